//! Configuration files in JSON or YAML, through the protobuf JSON mapping (feature `config`).
//!
//! A config type is a [`ProtoFmt`] type: its file is parsed into the schema's message
//! (lowerCamelCase or original field names, 64-bit integers as strings or numbers, bytes as
//! base64), then validated by `ProtoFmt::read`, whose errors name the field path. Unknown fields
//! are rejected, so a typo in a config file is an error, not a silently ignored setting.

use prost::Message as _;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor};

use crate::ProtoFmt;

/// A configuration file could not be read.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    /// The descriptor set does not describe the type (a bug in the caller).
    #[error("schema: {0}")]
    Schema(String),
    /// The text is not valid JSON/YAML for the schema (syntax error, unknown field, wrong type).
    #[error("{0}")]
    Syntax(String),
    /// The values do not form a valid configuration; the message names the field path.
    #[error("invalid: {0:#}")]
    Invalid(anyhow::Error),
}

fn descriptor<T: ProtoFmt>(descriptor_set: &[u8]) -> Result<MessageDescriptor, ConfigError>
where
    T::Proto: prost::Name,
{
    let pool =
        DescriptorPool::decode(descriptor_set).map_err(|e| ConfigError::Schema(e.to_string()))?;
    let name = <T::Proto as prost::Name>::full_name();
    pool.get_message_by_name(&name)
        .ok_or_else(|| ConfigError::Schema(format!("{name} is not in the descriptor set")))
}

fn from_dynamic<T: ProtoFmt>(msg: DynamicMessage) -> Result<T, ConfigError> {
    let proto: T::Proto = msg
        .transcode_to()
        .map_err(|e| ConfigError::Schema(e.to_string()))?;
    T::read(&proto).map_err(ConfigError::Invalid)
}

fn to_dynamic<T: ProtoFmt>(desc: MessageDescriptor, x: &T) -> Result<DynamicMessage, ConfigError> {
    DynamicMessage::decode(desc, x.build().encode_to_vec().as_slice())
        .map_err(|e| ConfigError::Schema(e.to_string()))
}

/// Parses JSON into `T` (schema from `descriptor_set`).
pub fn decode_json<T: ProtoFmt>(descriptor_set: &[u8], json: &str) -> Result<T, ConfigError>
where
    T::Proto: prost::Name,
{
    let desc = descriptor::<T>(descriptor_set)?;
    let mut de = serde_json::Deserializer::from_str(json);
    let opts = DeserializeOptions::new().deny_unknown_fields(true);
    let msg = DynamicMessage::deserialize_with_options(desc, &mut de, &opts)
        .map_err(|e| ConfigError::Syntax(e.to_string()))?;
    de.end().map_err(|e| ConfigError::Syntax(e.to_string()))?;
    from_dynamic(msg)
}

/// Writes `x` as pretty JSON.
pub fn encode_json<T: ProtoFmt>(descriptor_set: &[u8], x: &T) -> Result<String, ConfigError>
where
    T::Proto: prost::Name,
{
    let msg = to_dynamic(descriptor::<T>(descriptor_set)?, x)?;
    serde_json::to_string_pretty(&msg).map_err(|e| ConfigError::Schema(e.to_string()))
}

/// Parses YAML into `T` (schema from `descriptor_set`).
pub fn decode_yaml<T: ProtoFmt>(descriptor_set: &[u8], yaml: &str) -> Result<T, ConfigError>
where
    T::Proto: prost::Name,
{
    let desc = descriptor::<T>(descriptor_set)?;
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    let opts = DeserializeOptions::new().deny_unknown_fields(true);
    let msg = DynamicMessage::deserialize_with_options(desc, de, &opts)
        .map_err(|e| ConfigError::Syntax(e.to_string()))?;
    from_dynamic(msg)
}

/// Writes `x` as YAML.
pub fn encode_yaml<T: ProtoFmt>(descriptor_set: &[u8], x: &T) -> Result<String, ConfigError>
where
    T::Proto: prost::Name,
{
    let msg = to_dynamic(descriptor::<T>(descriptor_set)?, x)?;
    serde_yaml_ng::to_string(&msg).map_err(|e| ConfigError::Schema(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use zksync_concurrency::{limiter, time};

    use super::*;
    use crate::proto::DESCRIPTOR_SET;

    #[test]
    fn json_and_yaml_round_trips() {
        let rate = limiter::Rate {
            burst: 10,
            refresh: time::Duration::from_millis(1500),
        };
        let json = encode_json(DESCRIPTOR_SET, &rate).unwrap();
        assert_eq!(
            decode_json::<limiter::Rate>(DESCRIPTOR_SET, &json).unwrap(),
            rate
        );
        let yaml = encode_yaml(DESCRIPTOR_SET, &rate).unwrap();
        assert_eq!(
            decode_yaml::<limiter::Rate>(DESCRIPTOR_SET, &yaml).unwrap(),
            rate
        );
        let addr: SocketAddr = "[::1]:3054".parse().unwrap();
        let json = encode_json(DESCRIPTOR_SET, &addr).unwrap();
        assert_eq!(
            decode_json::<SocketAddr>(DESCRIPTOR_SET, &json).unwrap(),
            addr
        );
    }

    #[test]
    fn hand_written_files_are_accepted() {
        let rate: limiter::Rate = decode_json(
            DESCRIPTOR_SET,
            r#"{"burst": "5", "refresh": {"seconds": "2", "nanos": 0}}"#,
        )
        .unwrap();
        assert_eq!(rate.burst, 5);
        assert_eq!(rate.refresh, time::Duration::from_secs(2));
        let rate: limiter::Rate = decode_yaml(
            DESCRIPTOR_SET,
            "burst: 7\nrefresh:\n  seconds: 1\n  nanos: 0\n",
        )
        .unwrap();
        assert_eq!(rate.burst, 7);
    }

    #[test]
    fn errors_name_the_problem() {
        let err = decode_json::<limiter::Rate>(
            DESCRIPTOR_SET,
            r#"{"burst": "5", "refersh": {"seconds": "1", "nanos": 0}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Syntax(_)));
        assert!(err.to_string().contains("refersh"), "{err}");
        let err = decode_json::<limiter::Rate>(DESCRIPTOR_SET, r#"{"burst": "5"}"#).unwrap_err();
        assert_eq!(err.to_string(), "invalid: refresh: missing");
        let err = decode_yaml::<limiter::Rate>(DESCRIPTOR_SET, "burst: [1]\n").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
        let err = decode_json::<limiter::Rate>(DESCRIPTOR_SET, r#"{"burst": "5"} x"#).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
    }
}
