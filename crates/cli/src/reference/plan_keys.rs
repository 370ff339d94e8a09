//! Every plan key, Markdown, from the plan file's JSON Schema (`aegis-dr schema`): one section per
//! TOML table, in the file's order, each a table of its keys.

use std::{collections::BTreeMap, fmt::Write as _};

use serde_json::{Map, Value};

use super::{anchor, cell, generated_note, one_line, prose};

/// Every plan key, Markdown.
pub fn plan(schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema["definitions"].as_object().unwrap_or(&empty);
    let mut page = Page {
        defs,
        out: String::new(),
        seen: BTreeMap::new(),
        enums: Vec::new(),
    };
    page.out.push_str("# Plan keys\n\n");
    page.out.push_str(&generated_note("plan"));
    let _ = write!(
        page.out,
        "\n{}\n\nThis page lists what the plan file may hold: every table and key, its type, \
         whether it is required, its default and what it means. `aegis-dr schema` prints the same \
         as a JSON Schema for your editor ([Editor support](../guides/editor-support.md)); \
         `aegis-dr check` also checks what a schema cannot (a name another table refers to \
         exists, a duration is in range). A key not listed here is refused.\n",
        prose(schema["description"].as_str().unwrap_or_default())
    );
    if let Some(duration) = defs.get("Duration") {
        let _ = write!(
            page.out,
            "\n**Durations** are strings: {}\n",
            prose(text(duration, "description"))
        );
    }
    page.section("The top level", "", schema, "");
    page.value_lists();
    page.out
}

/// The page being written.
struct Page<'a> {
    defs: &'a Map<String, Value>,
    out: String,
    /// Definitions given a section already, with its heading (a second use links to it).
    seen: BTreeMap<String, String>,
    /// Enumerations whose values have meanings, listed at the end.
    enums: Vec<String>,
}

/// What a key holds, once `Option` and `$ref` wrappers are seen through.
enum Kind<'a> {
    /// A table of known keys (a struct), by definition name when it has one.
    Table(Option<&'a str>, &'a Value),
    /// One of several tables told apart by a `kind` key.
    Tagged(&'a [Value]),
    /// Anything else: a value written in one cell.
    Value(String),
}

impl<'a> Page<'a> {
    /// A section for one table, then the sections of the tables inside it.
    fn section(&mut self, title: &str, path: &str, obj: &'a Value, lead: &str) {
        let _ = writeln!(self.out, "\n## {title}\n");
        if !lead.is_empty() {
            let _ = writeln!(self.out, "{lead}\n");
        }
        if let Some(d) = obj["description"].as_str().filter(|_| !path.is_empty()) {
            let _ = writeln!(self.out, "{}\n", prose(d));
        }
        let required: Vec<&str> = obj["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        self.out
            .push_str("| Key | Type | Required | Default | Description |\n|---|---|---|---|---|\n");
        let mut children: Vec<(String, String, &'a Value, String)> = Vec::new();
        let props = obj["properties"].as_object().into_iter().flatten();
        for (key, prop) in props {
            let child_path = join(path, key);
            let (ty, child) = self.key_type(&child_path, key, prop);
            let _ = writeln!(
                self.out,
                "| `{key}` | {ty} | {} | {} | {} |",
                if required.contains(&key.as_str()) {
                    "yes"
                } else {
                    ""
                },
                default(prop),
                cell(&self.description(prop)),
            );
            children.extend(child);
        }
        if let Some(extra) = obj.get("additionalProperties").filter(|v| v.is_object()) {
            if obj["properties"].is_object() {
                let ty = self.value_type(extra);
                let _ = writeln!(
                    self.out,
                    "| any other key | {ty} | | | A provider's settings table, e.g. `[{}.aws]`: \
                     its keys are on the provider's page. |",
                    if path.is_empty() { "sites.dr" } else { path },
                );
            }
        }
        for (title, child_path, schema, lead) in children {
            self.section(&title, &child_path, schema, &lead);
        }
    }

    /// A key's type cell, and the section its table (or tables) get, when it holds any.
    fn key_type(
        &mut self,
        path: &str,
        key: &str,
        prop: &'a Value,
    ) -> (String, Vec<(String, String, &'a Value, String)>) {
        let inner = unwrap(prop);
        // A list of tables, a table of tables, or a table.
        let (shape, value, heading) = if inner["type"] == "array" {
            let items = &inner["items"];
            ("array", items, format!("`[[{path}]]`"))
        } else if inner["type"] == "object" && !inner["properties"].is_object() {
            let values = &inner["additionalProperties"];
            ("map", values, format!("`[{path}.<name>]`"))
        } else {
            ("one", inner, format!("`[{path}]`"))
        };
        match self.kind(value) {
            Kind::Table(name, table) => {
                let what = match shape {
                    "array" => "array of tables",
                    "map" => "tables by name",
                    _ => "table",
                };
                if let Some(first) = name.and_then(|n| self.seen.get(n)) {
                    let text = format!("{what}, as [{first}](#{})", anchor(first));
                    return (text, Vec::new());
                }
                if let Some(n) = name {
                    self.seen.insert(n.to_string(), heading.clone());
                }
                let child_path = if shape == "map" {
                    join(path, "<name>")
                } else {
                    path.to_string()
                };
                let link = format!("{what}: [{heading}](#{})", anchor(&heading));
                (link, vec![(heading, child_path, table, String::new())])
            }
            Kind::Tagged(variants) => {
                let mut links = Vec::new();
                let mut sections = Vec::new();
                for variant in variants {
                    let tag = variant["properties"]["kind"]["const"]
                        .as_str()
                        .unwrap_or_default();
                    let title = format!("{heading} with `kind = \"{tag}\"`");
                    links.push(format!("[`{tag}`](#{})", anchor(&title)));
                    let lead = format!("A `{key}` entry whose `kind` is `\"{tag}\"`.");
                    sections.push((title, path.to_string(), variant, lead));
                }
                let what = if shape == "array" {
                    "array of tables"
                } else {
                    "table"
                };
                (format!("{what}, by `kind`: {}", links.join(", ")), sections)
            }
            Kind::Value(text) => match shape {
                "array" => (format!("array of {text}"), Vec::new()),
                "map" => (format!("table of {text}"), Vec::new()),
                _ => (text, Vec::new()),
            },
        }
    }

    /// What a schema holds, its references followed.
    fn kind(&mut self, schema: &'a Value) -> Kind<'a> {
        let schema = unwrap(schema);
        let (name, def) = match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or(r);
                match self.defs.get(name) {
                    Some(def) => (Some(name), def),
                    None => return Kind::Value(format!("`{name}`")),
                }
            }
            None => (None, schema),
        };
        if def["properties"].is_object() {
            return Kind::Table(name, def);
        }
        if let Some(variants) = def["oneOf"].as_array() {
            if variants.iter().all(|v| v["properties"]["kind"].is_object()) {
                return Kind::Tagged(variants);
            }
        }
        Kind::Value(self.value_type_named(name, def))
    }

    /// The type cell of a value that is not a table.
    fn value_type(&mut self, schema: &'a Value) -> String {
        match self.kind(schema) {
            Kind::Table(..) | Kind::Tagged(..) => "table".into(),
            Kind::Value(text) => text,
        }
    }

    /// The type cell of a value, named by its definition when it has one.
    fn value_type_named(&mut self, name: Option<&str>, def: &'a Value) -> String {
        if name == Some("Duration") {
            return "duration".into();
        }
        if let Some(c) = def.get("const") {
            return format!("`{c}`");
        }
        if let Some(values) = consts(def) {
            let described = def["oneOf"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v["description"].is_string()));
            let mut text = format!("one of {}", values.join(", "));
            if let (true, Some(n)) = (described, name) {
                if !self.enums.iter().any(|e| e == n) {
                    self.enums.push(n.to_string());
                }
                let _ = write!(text, " ([meanings](#{}))", anchor(n));
            }
            return text;
        }
        if let Some(options) = def["anyOf"].as_array() {
            let kinds: Vec<String> = options.iter().map(|o| self.value_type(o)).collect();
            return kinds.join(" or ");
        }
        let ty = match &def["type"] {
            // `Option<T>`: `["T", "null"]`.
            Value::Array(types) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null"),
            other => other.as_str(),
        };
        match ty {
            Some("array") => format!("array of {}", self.value_type(&def["items"])),
            Some("object") => match def.get("additionalProperties") {
                Some(v) if v.is_object() => format!("table of {}", self.value_type(v)),
                _ => "table".into(),
            },
            Some("integer") if def["minimum"] == 0 => "integer ≥ 0".into(),
            Some(t) => t.to_string(),
            None => "any value".into(),
        }
    }

    /// A key's description: its own, else its type's.
    fn description(&self, prop: &Value) -> String {
        if let Some(d) = prop["description"].as_str() {
            return d.to_string();
        }
        let inner = unwrap(prop);
        let target = if inner["type"] == "array" {
            &inner["items"]
        } else {
            inner
        };
        target["$ref"]
            .as_str()
            .and_then(|r| self.defs.get(r.rsplit('/').next().unwrap_or(r)))
            .and_then(|d| d["description"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// The meanings of the enumerations the tables named.
    fn value_lists(&mut self) {
        if self.enums.is_empty() {
            return;
        }
        self.out.push_str("\n## Values and their meanings\n");
        for name in std::mem::take(&mut self.enums) {
            let Some(def) = self.defs.get(&name) else {
                continue;
            };
            let _ = writeln!(self.out, "\n### {name}\n");
            if let Some(d) = def["description"].as_str() {
                let _ = writeln!(self.out, "{}\n", prose(d));
            }
            for v in def["oneOf"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    self.out,
                    "- `{}`: {}",
                    v["const"].as_str().unwrap_or_default(),
                    one_line(&prose(text(v, "description")))
                );
            }
        }
    }
}

/// The schema inside `Option` (`anyOf [x, null]`) and `allOf [x]` wrappers.
fn unwrap(schema: &Value) -> &Value {
    for wrapper in ["anyOf", "allOf"] {
        if let Some(list) = schema[wrapper].as_array() {
            let real: Vec<&Value> = list.iter().filter(|s| s["type"] != "null").collect();
            if real.len() == 1 && (wrapper == "allOf" || real.len() < list.len()) {
                return unwrap(real[0]);
            }
        }
    }
    schema
}

/// The constants of a string enumeration, in backticks.
fn consts(def: &Value) -> Option<Vec<String>> {
    if let Some(values) = def["enum"].as_array() {
        return Some(values.iter().map(|v| format!("`{}`", plain(v))).collect());
    }
    let variants = def["oneOf"].as_array()?;
    variants
        .iter()
        .map(|v| v.get("const").map(|c| format!("`{}`", plain(c))))
        .collect()
}

/// A JSON value as TOML writes it (strings quoted only by the surrounding backticks).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The default cell: a default other than an empty list or table, in backticks.
fn default(prop: &Value) -> String {
    match prop.get("default") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(a)) if a.is_empty() => String::new(),
        Some(Value::Object(o)) if o.is_empty() => String::new(),
        Some(Value::String(s)) => format!("`\"{s}\"`"),
        Some(other) => format!("`{other}`"),
    }
}

/// A string field of a schema, or empty.
fn text<'v>(schema: &'v Value, field: &str) -> &'v str {
    schema[field].as_str().unwrap_or_default()
}

/// A dotted TOML path.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_table_has_a_section_and_links_resolve_on_the_page() {
        let page = plan(&aegis_dr::plan::json_schema());
        for heading in [
            "## `[plan]`",
            "## `[sites.dr]`",
            "## `[[databases]]`",
            "## `[sim]`",
        ] {
            assert!(page.contains(heading), "{heading} missing:\n{page}");
        }
        assert!(page.contains("with `kind = \"webhook\"`"), "{page}");
        // Every in-page link names a heading of the page.
        let ids: Vec<String> = page
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| anchor(l.trim_start_matches('#')))
            .collect();
        for link in page.split("](#").skip(1) {
            let id = &link[..link.find(')').unwrap()];
            assert!(ids.iter().any(|i| i == id), "#{id} names no heading");
        }
    }
}
