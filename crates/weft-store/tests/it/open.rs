//! Opening a store from where it is: an SQLite path, created or required to exist; a
//! database whose feature this build leaves out is refused by name.

use weft_store::{OpenError, OpenMode};

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_sqlite_path_is_created_or_must_exist() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("runs.db");
    let location = path.to_str().unwrap();

    let error = weft_store::open(location, OpenMode::MustExist)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, OpenError::Missing { .. }), "{error}");
    assert_eq!(error.kind(), weft_core::ErrorKind::NotFound);
    assert_eq!(error.to_string(), format!("{location} does not exist"));
    assert!(!path.exists(), "a database that must exist is not created");

    let store = weft_store::open(location, OpenMode::CreateIfMissing)
        .await
        .unwrap();
    super::appends_are_read_back_and_derive_the_run_row(store.as_ref()).await;
    drop(store);
    let store = weft_store::open(location, OpenMode::MustExist)
        .await
        .unwrap();
    let runs = weft_core::RunStore::runs(store.as_ref(), Default::default());
    assert_eq!(runs.await.unwrap().len(), 1);

    let text = folder.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let error = weft_store::open(text.to_str().unwrap(), OpenMode::MustExist)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, OpenError::NotSqlite { .. }), "{error}");
}

#[cfg(not(feature = "sqlite"))]
#[tokio::test]
async fn an_sqlite_path_needs_the_sqlite_feature() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("runs.db");
    let location = path.to_str().unwrap();
    let error = weft_store::open(location, OpenMode::CreateIfMissing)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            OpenError::FeatureMissing {
                feature: "sqlite",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{location} needs the `sqlite` feature of weft-store, which this build of weft leaves out"
        )
    );
    assert!(!path.exists());
}

/// A server that cannot be reached is an error that names it, without its password.
#[tokio::test]
async fn a_bad_server_url_is_named_without_its_password() {
    let error = weft_store::open(
        "postgres://weft:secret@127.0.0.1:no-port/runs",
        OpenMode::MustExist,
    )
    .await
    .err()
    .unwrap();
    let message = error.to_string();
    assert!(
        message.starts_with(
            "cannot open the weft database postgres://weft:***@127.0.0.1:no-port/runs: "
        ),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}
