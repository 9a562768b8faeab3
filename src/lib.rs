pub mod yaml;
pub mod convert;
pub mod results;
