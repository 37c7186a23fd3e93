//! Moving the original app's data in: an export of its Firestore collections, read
//! ([`export`]) and normalised into records this schema accepts ([`normalise`]).

pub mod export;
pub mod fields;
pub mod normalise;

pub use export::{Collection, Export};
