//! The plan file's JSON Schema (`aegis-dr schema`), derived from the types the file is read into,
//! for TOML language servers (taplo, Even Better TOML): completion and validation as one types.
//!
//! The schema says what serde reads: keys, types, enums, required keys, unknown keys refused. What
//! validation checks across tables (a hook's anchor exists, a pool's site is served, durations in
//! range) only `aegis-dr check` says.

use super::raw::RawPlan;

/// The plan file's JSON Schema, draft 07 (what taplo's validator reads).
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<RawPlan>().to_value();
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), "aegis-dr plan".into());
        root.insert(
            "description".into(),
            "An aegis-dr plan file (aegis.toml): the estate, its targets, and how to fail it over \
             and back. `aegis-dr check` validates what a schema cannot (cross-references, ranges)."
                .into(),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_top_level_table_and_refuses_unknown_keys() {
        let s = json_schema();
        assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(s["additionalProperties"], false);
        let props = s["properties"].as_object().unwrap();
        for key in [
            "plan",
            "sites",
            "databases",
            "dns_records",
            "hooks",
            "triggers",
            "state",
        ] {
            assert!(props.contains_key(key), "{key} missing from {props:?}");
        }
        assert_eq!(s["required"], serde_json::json!(["plan", "sites"]));
    }
}
