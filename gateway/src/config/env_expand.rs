//! `${NAME}` in the config file's string values stands for the environment variable NAME,
//! so that one file (a Kubernetes ConfigMap shared by every node of a DaemonSet) can give
//! each gateway its own remote prefix or listen address: `prefix = "vms/${NODE_NAME}/"`,
//! `listen = ["${POD_IP}:9000"]`. `$${` is a literal `${`. Only string values are expanded,
//! never keys or comments; an unset variable is an error naming the field.

use super::{ConfigError, invalid};

/// Expands every string value in `value`; `path` names the field in messages.
pub(super) fn expand(value: &mut toml::Value, path: &str) -> Result<(), ConfigError> {
    expand_with(value, path, &|name| std::env::var(name).ok())
}

fn expand_with(
    value: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(text) if text.contains('$') => {
            *text = expand_text(text, path, env)?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_with(item, &format!("{path}[{i}]"), env)?;
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                expand_with(item, &field, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_text(
    text: &str,
    field: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| {
                invalid(
                    field,
                    text,
                    "a `${` without its closing `}` (write `$${` for a literal)",
                )
            })?;
            let name = &body[..end];
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(invalid(
                    field,
                    text,
                    "`${...}` must name an environment variable (letters, digits, `_`)",
                ));
            }
            let value = env(name).ok_or_else(|| {
                invalid(
                    field,
                    text,
                    &format!("the environment variable {name} is not set"),
                )
            })?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "NODE_NAME" => Some("node-7".into()),
            "POD_IP" => Some("10.0.0.7".into()),
            _ => None,
        }
    }

    fn expanded(toml_text: &str) -> Result<toml::Value, ConfigError> {
        let mut value: toml::Value = toml::from_str(toml_text).expect("TOML");
        expand_with(&mut value, "", &env).map(|()| value)
    }

    #[test]
    fn strings_in_tables_and_arrays_are_expanded() {
        let v = expanded(
            "listen = [\"${POD_IP}:9000\"]\n[[tiers]]\nname = \"r\"\nprefix = \"vms/${NODE_NAME}/\"\n",
        )
        .unwrap();
        assert_eq!(v["listen"][0].as_str(), Some("10.0.0.7:9000"));
        assert_eq!(v["tiers"][0]["prefix"].as_str(), Some("vms/node-7/"));
    }

    #[test]
    fn dollars_that_are_not_references_stay() {
        let v = expanded("a = \"cost $5 and $${NODE_NAME} and $\"\nb = 5\n").unwrap();
        assert_eq!(v["a"].as_str(), Some("cost $5 and ${NODE_NAME} and $"));
    }

    #[test]
    fn an_unset_or_malformed_reference_names_the_field() {
        let err = expanded("[[tiers]]\nprefix = \"${NOPE}/\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tiers[0].prefix") && text.contains("NOPE is not set"),
            "{text}"
        );
        let err = expanded("x = \"${NODE_NAME\"\n").unwrap_err().to_string();
        assert!(err.contains("closing"), "{err}");
        let err = expanded("x = \"${A-B}\"\n").unwrap_err().to_string();
        assert!(err.contains("must name an environment variable"), "{err}");
    }
}
