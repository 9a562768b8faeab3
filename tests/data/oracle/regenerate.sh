#!/usr/bin/env bash
# Regenerates the checked-in oracle outputs (NAME.bare.out.yaml) that
# tests/oracle.rs compares against, with Polyaxon 2.18.0's own converter run
# by the project's oracle script (oracle.py). CI never runs this: it reads the
# files written here.
#
#   ORACLE=path/to/oracle.py PY=path/to/venv/bin/python tests/data/oracle/regenerate.sh
#
# (the venv needs `pip install polyaxon==2.18.0`; the oracle works offline).
set -euo pipefail
cd "$(dirname "$0")"
: "${ORACLE:?set ORACLE to the path of oracle.py}"
PY=${PY:-python3}

# --show-compiled puts Polyaxon's compiled operation (composition, templates
# and shortcuts applied; before conversion) first: the test reads the
# author's containers from it.
bare() { # input-without-.yaml catalog
  "$PY" "$ORACLE" "$1.yaml" --catalog "$2" --mode bare --show-compiled > "$1.bare.out.yaml"
}

# The shared oracle inputs our binary converts, with the catalogs the
# oracle's own run_all.sh gives them.
bare 01_manual_secrets catalog.yaml
bare 02_connections catalog-full.yaml
bare 04_env_termination catalog-full.yaml
bare 10_shortcuts catalog-full.yaml
bare 12_literal_eval catalog-full.yaml
bare 13_dedupe_requested catalog-dedupe.yaml
for strategy in post_merge pre_merge replace isnull; do
  bare "14_patch_$strategy" catalog-full.yaml
done
bare errors/e03_missing_image catalog-full.yaml
bare errors/e17_duplicate_connection_request catalog-full.yaml
bare errors/e21_no_kind catalog-full.yaml

# Inputs written for these tests (sidecars, init containers, names, order).
bare x01_sidecar_connections catalog-extra.yaml
bare x02_custom_init catalog-extra.yaml
bare x03_volume_names catalog-names.yaml
bare x04_resource_order catalog-extra.yaml
bare x05_init_order catalog-extra.yaml
bare x06_shm catalog-extra.yaml
echo "regenerated; review the diff (git diff tests/data/oracle)"
