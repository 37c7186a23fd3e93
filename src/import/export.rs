//! Reading an export of the original's Firestore collections.
//!
//! Two shapes hold the same data:
//!
//! - a folder with one `<collection>.json` per collection, each a JSON array of documents
//!   written `{"id": "<document id>", ...fields}`; a missing file is an empty collection;
//! - one JSON file holding an object `{"users": [...], "courses": [...], ...}`.
//!
//! Anything that is not JSON of that shape stops the run before the database is touched. A
//! single entry that is not a document (not an object, or without a text `id`) is kept as a
//! [`Malformed`] entry, which the import reports as rejected.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// The collections imported, in import order: each refers only to those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `users/{uid}`: accounts.
    Users,
    /// `courses/{id}`, with embedded `modules[]` and their `lessons[]`.
    Courses,
    /// `enrollmentRequests/{id}`: requests to join a course.
    EnrollmentRequests,
    /// `progress/{id}`: enrollments and their completed lessons.
    Progress,
    /// `quizzes/{id}`, with embedded `questions[]`.
    Quizzes,
    /// `quizAttempts/{id}`, with embedded `answers[]`.
    QuizAttempts,
    /// `notifications/{id}`.
    Notifications,
}

impl Collection {
    /// Every collection, in import order.
    pub const ALL: [Self; 7] = [
        Self::Users,
        Self::Courses,
        Self::EnrollmentRequests,
        Self::Progress,
        Self::Quizzes,
        Self::QuizAttempts,
        Self::Notifications,
    ];

    /// The Firestore collection name (and the export's file stem).
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Courses => "courses",
            Self::EnrollmentRequests => "enrollmentRequests",
            Self::Progress => "progress",
            Self::Quizzes => "quizzes",
            Self::QuizAttempts => "quizAttempts",
            Self::Notifications => "notifications",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One Firestore document: its id and its fields.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document id (a user's is its Firebase uid).
    pub id: String,
    /// Every field but `id`.
    pub fields: Map<String, Value>,
}

/// An entry of a collection that is not a document.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// How to find it: its id when it repeats another document's, else `#<position>` in its
    /// collection, counting from 1.
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

/// The entries of one collection, in file order.
pub type Entries = Vec<Result<Document, Malformed>>;

/// A whole export.
#[derive(Debug)]
pub struct Export {
    /// Where it was read from.
    pub source: PathBuf,
    /// Each collection's entries, in import order (empty when absent).
    pub collections: Vec<(Collection, Entries)>,
    /// Collections present in the export that this import does not load (chat, community…).
    pub ignored: Vec<String>,
}

impl Export {
    /// Entries in all collections.
    pub fn len(&self) -> usize {
        self.collections.iter().map(|(_, e)| e.len()).sum()
    }

    /// Whether the export holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a folder export or a single-file export.
pub fn read(source: &Path) -> anyhow::Result<Export> {
    let meta = fs::metadata(source)
        .with_context(|| format!("cannot read the export {}", source.display()))?;
    let mut found: Vec<(Collection, Value)> = Vec::new();
    let mut ignored = Vec::new();
    if meta.is_dir() {
        for entry in fs::read_dir(source)
            .with_context(|| format!("cannot list the folder {}", source.display()))?
        {
            let path = entry
                .with_context(|| format!("cannot list the folder {}", source.display()))?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            match Collection::parse(stem) {
                Some(collection) => found.push((collection, parse_file(&path)?)),
                None => ignored.push(stem.to_owned()),
            }
        }
    } else {
        let Value::Object(all) = parse_file(source)? else {
            bail!(
                "{}: a single-file export must be a JSON object of collections, e.g. {{\"users\": [...]}}",
                source.display()
            );
        };
        for (name, value) in all {
            match Collection::parse(&name) {
                Some(collection) => found.push((collection, value)),
                None => ignored.push(name),
            }
        }
    }
    ignored.sort();
    let mut collections = Vec::with_capacity(Collection::ALL.len());
    for collection in Collection::ALL {
        let entries = match found.iter().position(|(c, _)| *c == collection) {
            Some(i) => entries(collection, found.swap_remove(i).1)?,
            None => Vec::new(),
        };
        collections.push((collection, entries));
    }
    Ok(Export {
        source: source.to_owned(),
        collections,
        ignored,
    })
}

fn parse_file(path: &Path) -> anyhow::Result<Value> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    serde_json::from_reader(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not valid JSON", path.display()))
}

fn entries(collection: Collection, value: Value) -> anyhow::Result<Entries> {
    let Value::Array(items) = value else {
        bail!("{}: expected a JSON array of documents", collection.name());
    };
    // Firestore ids are unique within a collection; a hand-edited export may repeat one, and
    // the second would then overwrite the first on every run.
    let mut seen = std::collections::HashSet::new();
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match document(i, item) {
            Ok(doc) if !seen.insert(doc.id.clone()) => Err(Malformed {
                id: doc.id,
                reason: "a second document with this id in the collection".to_owned(),
            }),
            other => other,
        })
        .collect())
}

fn document(position: usize, item: Value) -> Result<Document, Malformed> {
    let Value::Object(mut fields) = item else {
        return Err(Malformed {
            id: format!("#{}", position + 1),
            reason: "not a document: expected a JSON object".to_owned(),
        });
    };
    match fields.remove("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(Document { id, fields }),
        _ => Err(Malformed {
            id: format!("#{}", position + 1),
            reason: "missing required field 'id' (the Firestore document id)".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_single_file_export_keeps_known_collections_and_names_the_others() {
        let dir = std::env::temp_dir().join(format!("export-test-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("export.json");
        let body = json!({
            "users": [{"id": "u1", "email": "a@example.com"}, {"email": "no id"}, 3, {"id": "u1"}],
            "messages": [{"id": "m1"}],
        });
        fs::write(&file, body.to_string()).expect("write");
        let export = read(&file).expect("readable");
        fs::remove_dir_all(&dir).ok();
        assert_eq!(export.ignored, vec!["messages"]);
        let (collection, users) = &export.collections[0];
        assert_eq!(*collection, Collection::Users);
        assert_eq!(users.len(), 4);
        assert!(matches!(&users[0], Ok(d) if d.id == "u1" && !d.fields.contains_key("id")));
        assert!(matches!(&users[1], Err(m) if m.id == "#2"));
        assert!(matches!(&users[2], Err(m) if m.id == "#3"));
        assert!(
            matches!(&users[3], Err(m) if m.id == "u1" && m.reason.contains("second document"))
        );
        assert!(export.collections[1..].iter().all(|(_, e)| e.is_empty()));
    }

    #[test]
    fn a_collection_that_is_not_an_array_stops_the_run() {
        let err = entries(Collection::Courses, json!({"id": "c1"})).expect_err("not an array");
        assert!(err.to_string().contains("courses: expected a JSON array"));
    }
}
