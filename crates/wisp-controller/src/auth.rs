//! API keys as OpenWhisk uses them: `ID:SECRET`, sent with HTTP Basic auth.

use sha2::{Digest, Sha256};

/// An API key: a public id and a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public part, the Basic-auth user name.
    pub id: String,
    /// Secret part, the Basic-auth password.
    pub secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}:***)", self.id)
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.secret)
    }
}

impl std::str::FromStr for ApiKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        match s.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(ApiKey {
                id: id.to_string(),
                secret: secret.to_string(),
            }),
            _ => Err("an API key has the form ID:SECRET".into()),
        }
    }
}

impl ApiKey {
    /// A new random key: a UUID-shaped id and a 64-character secret.
    pub fn generate() -> std::io::Result<Self> {
        let mut id = [0u8; 16];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id).map_err(std::io::Error::other)?;
        getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
        let h = hex::encode(id);
        Ok(ApiKey {
            id: format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ),
            secret: hex::encode(secret),
        })
    }

    /// Whether an `Authorization` header value carries this key. The comparison
    /// takes the same time wherever the strings differ.
    pub fn matches_header(&self, header: &str) -> bool {
        use base64::Engine;
        let Some(encoded) = header.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        constant_time_eq(
            &Sha256::digest(&decoded),
            &Sha256::digest(self.to_string().as_bytes()),
        )
    }
}

/// Compares two digests without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn parse_and_match() {
        let key: ApiKey = "abc:s3cret".parse().unwrap();
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("abc:s3cret")
        );
        assert!(key.matches_header(&header));
        let wrong = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("abc:s3creT")
        );
        assert!(!key.matches_header(&wrong));
        assert!(!key.matches_header("Bearer abc"));
        assert!(!key.matches_header("Basic !!!"));
        assert!("nocolon".parse::<ApiKey>().is_err());
        assert!(":x".parse::<ApiKey>().is_err());
    }

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_string().parse::<ApiKey>().unwrap(), a);
        assert_eq!(a.id.len(), 36);
    }
}
