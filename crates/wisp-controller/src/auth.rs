//! API keys as OpenWhisk uses them: `ID:SECRET`, sent with HTTP Basic auth.

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let key: ApiKey = "abc:s3cret".parse().unwrap();
        assert_eq!((key.id.as_str(), key.secret.as_str()), ("abc", "s3cret"));
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
