"""ev-codegen: compiles EVerest-format manifests into typed Python, MQTT bindings and docs."""
