//! The TOML file (`--config`): its keys are the long flags with underscores; a key fills a
//! setting only where neither a flag nor an environment variable set it. Unknown or mistyped
//! keys are errors that name the key (never its value: it may be a password).

use std::{collections::BTreeMap, path::PathBuf};

use clap::{ArgMatches, parser::ValueSource};

use super::{Config, ConfigError};

pub(super) fn overlay_file(
    config: Config,
    matches: &ArgMatches,
    path: &PathBuf,
) -> Result<Config, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    // toml's Display quotes the offending line, which may hold a password: report the line
    // number and the message only.
    let file: BTreeMap<String, toml::Value> = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(0, |span| {
            text[..span.start.min(text.len())].lines().count().max(1)
        });
        invalid(format!(
            "TOML syntax error at line {line}: {}",
            e.message().trim()
        ))
    })?;
    let mut merged = serde_json::to_value(&config).map_err(|e| invalid(e.to_string()))?;
    let Some(obj) = merged.as_object_mut() else {
        return Err(invalid("internal: config is not an object".into()));
    };
    for (key, value) in file {
        // `#[serde(flatten)]` sections cannot deny unknown fields, so check keys here.
        if !obj.contains_key(&key) {
            let mut known: Vec<&str> = obj.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(invalid(format!(
                "unknown key '{key}'; valid keys are {}",
                known.join(", ")
            )));
        }
        let explicit = matches!(
            matches.value_source(&key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !explicit {
            let json = serde_json::to_value(value).map_err(|e| invalid(e.to_string()))?;
            obj.insert(key, json);
        }
    }
    let mut out: Config = match serde_json::from_value(merged.clone()) {
        Ok(c) => c,
        Err(err) => {
            // The sections are `#[serde(flatten)]`ed, which hides the failing key from the
            // error: find it by trying the file's keys one at a time.
            let base = serde_json::to_value(&config).map_err(|e| invalid(e.to_string()))?;
            let culprit = merged.as_object().and_then(|m| {
                m.iter().find(|(key, value)| {
                    let mut trial = base.clone();
                    if let Some(obj) = trial.as_object_mut() {
                        obj.insert((*key).clone(), (*value).clone());
                    }
                    serde_json::from_value::<Config>(trial).is_err()
                })
            });
            return Err(invalid(match culprit {
                Some((key, _)) => format!("key '{key}': {err}"),
                None => err.to_string(),
            }));
        }
    };
    out.config = Some(path.clone());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::load_from;

    #[test]
    fn file_fills_defaults_but_flags_win() {
        let dir = std::env::temp_dir().join(format!("sg-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "poll_interval_ms = 250\nlisten = \"127.0.0.1:4000\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let cli = load_from(["signalgate", "--config", p, "--listen", "127.0.0.1:5000"]).unwrap();
        assert_eq!(cli.config.database.poll_interval_ms, 250);
        assert_eq!(cli.config.http.listen.port(), 5000);

        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let err = load_from(["signalgate", "--config", p])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no_such_key"), "{err}");
    }
}
