pub mod diag;
pub mod k8s;
