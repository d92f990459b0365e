//! Identifiers: UUIDv7s, so ids sort by creation time, each kind its own type.

/// An id type over a UUIDv7, with its parse error.
macro_rules! uuid_id {
    ($(#[$attribute:meta])* $name:ident, $error:ident, $what:literal) => {
        $(#[$attribute])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(formatter)
            }
        }

        #[doc = concat!("A ", $what, " that could not be parsed.")]
        #[derive(Debug, thiserror::Error)]
        #[error(
            "`{input}` is not a {} (expected a UUID such as 0190f5c2-4c1e-7d2a-9a53-2f7c1c1b9e10)",
            $what
        )]
        pub struct $error {
            input: String,
        }

        impl std::str::FromStr for $name {
            type Err = $error;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(input)
                    .map(Self)
                    .map_err(|_| $error {
                        input: input.to_owned(),
                    })
            }
        }
    };
}

uuid_id!(
    /// The id of a run.
    RunId,
    ParseRunIdError,
    "run id"
);

uuid_id!(
    /// The id of a session. People name sessions; the name maps to this id.
    SessionId,
    ParseSessionIdError,
    "session id"
);
