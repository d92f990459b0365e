//! Where a weft database is, as messages name it: an SQLite file, or a PostgreSQL server
//! whose URL is shown without its password.

use std::fmt;
use std::path::PathBuf;

/// The URL schemes of PostgreSQL servers.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Where a weft database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL server, by its URL with any password replaced by `***`.
    Server(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is a server; anything else is a file path.
    pub fn parse(location: &str) -> Self {
        if is_postgres_url(location) {
            Self::server(location)
        } else {
            Self::File(PathBuf::from(location))
        }
    }

    /// A server, named by `url` without its password.
    pub fn server(url: &str) -> Self {
        Self::Server(without_password(url))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(formatter, "{}", path.display()),
            Self::Server(url) => formatter.write_str(url),
        }
    }
}

/// Whether `location` is a PostgreSQL URL rather than a file path.
pub(crate) fn is_postgres_url(location: &str) -> bool {
    POSTGRES_SCHEMES
        .iter()
        .any(|scheme| location.starts_with(scheme))
}

/// `url` with the password of its user part (`user:password@`) and of a `password=` query
/// parameter replaced by `***`, so that messages and logs can show it.
fn without_password(url: &str) -> String {
    let (address, query) = url.split_once('?').unwrap_or((url, ""));
    let mut shown = match address.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((user, host)) => match user.split_once(':') {
                    Some((name, _)) => format!("{scheme}://{name}:***@{host}{path}"),
                    None => address.to_owned(),
                },
                None => address.to_owned(),
            }
        }
        None => address.to_owned(),
    };
    if !query.is_empty() {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => parameter.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_servers_without_their_passwords_and_the_rest_files() {
        assert_eq!(
            Location::parse("postgres://weft:secret@db.example:5432/runs?sslmode=require")
                .to_string(),
            "postgres://weft:***@db.example:5432/runs?sslmode=require"
        );
        assert_eq!(
            Location::parse("postgresql://weft@db/runs?password=secret&application_name=a")
                .to_string(),
            "postgresql://weft@db/runs?password=***&application_name=a"
        );
        assert_eq!(
            Location::parse("postgres://postgres@127.0.0.1:5432/test"),
            Location::Server("postgres://postgres@127.0.0.1:5432/test".into())
        );
        assert_eq!(
            Location::parse("runs/weft.db"),
            Location::File(PathBuf::from("runs/weft.db"))
        );
        assert_eq!(
            Location::parse("sqlite:weft.db"),
            Location::File(PathBuf::from("sqlite:weft.db"))
        );
    }
}
