//! Opening a store from where it is, as a person or a configuration file names it: a
//! `postgres://` or `postgresql://` URL, or the path of an SQLite file. A database this
//! build leaves out (a cargo feature that is off) is an error that names the feature.

use crate::error::OpenError;
use crate::location::is_postgres_url;
use std::path::Path;
use std::sync::Arc;
use weft_core::Database;

/// Whether opening a store may create its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// A missing SQLite file is created: for writing runs.
    CreateIfMissing,
    /// The SQLite file must already exist ([`OpenError::Missing`] otherwise): for reading
    /// runs kept there.
    MustExist,
}

/// Opens the weft database at `location`: a `postgres://` or `postgresql://` URL, or an
/// SQLite file path. Either way an older schema is migrated and a newer one refused.
pub async fn open(location: &str, mode: OpenMode) -> Result<Arc<dyn Database>, OpenError> {
    if is_postgres_url(location) {
        open_postgres(location).await
    } else {
        open_sqlite(Path::new(location), mode).await
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn Database>, OpenError> {
    Ok(Arc::new(
        crate::postgres::PostgresStore::connect(url).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str) -> Result<Arc<dyn Database>, OpenError> {
    Err(OpenError::FeatureMissing {
        location: crate::location::Location::server(url),
        feature: "postgres",
    })
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &Path, mode: OpenMode) -> Result<Arc<dyn Database>, OpenError> {
    let create = mode == OpenMode::CreateIfMissing;
    if !create && !path.exists() {
        return Err(OpenError::Missing {
            path: path.to_owned(),
        });
    }
    let settings = crate::sqlite::SqliteSettings::default();
    Ok(Arc::new(crate::sqlite::open(path, settings, create).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(path: &Path, _: OpenMode) -> Result<Arc<dyn Database>, OpenError> {
    Err(OpenError::FeatureMissing {
        location: crate::location::Location::File(path.to_owned()),
        feature: "sqlite",
    })
}
