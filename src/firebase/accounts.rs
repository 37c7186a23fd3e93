//! Which account a verified Firebase user is.
//!
//! A uid already linked (`app_user.firebase_uid`) is that account. The first time a uid is seen,
//! it is linked to the account with the same e-mail address only when the token says Firebase
//! verified that address; with no such account, a student account is created for it (unless
//! `FIREBASE_AUTO_PROVISION=false`). An unverified address never takes over an existing account.
//! The role and the suspension always come from this service's database afterwards, never from
//! the token.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::FirebaseIdentity;
use crate::{error::AppError, state::AppState};

/// Longest given or family name stored.
const NAME_MAX: usize = 100;

/// The account of a verified Firebase user, linking or creating it the first time.
pub async fn account_of(state: &AppState, identity: &FirebaseIdentity) -> Result<Uuid, AppError> {
    let Some(firebase) = &state.firebase else {
        return Err(AppError::Unauthorized);
    };
    if let Some(id) = firebase.linked(&identity.uid) {
        return Ok(id);
    }
    let mut client = state.db().await?;
    let id = link_or_create(&mut client, identity, firebase.auto_provision()).await?;
    firebase.remember_link(&identity.uid, id);
    Ok(id)
}

async fn link_or_create(
    client: &mut deadpool_postgres::Client,
    identity: &FirebaseIdentity,
    auto_provision: bool,
) -> Result<Uuid, AppError> {
    if let Some(id) = linked(&*client, &identity.uid).await? {
        return Ok(id);
    }
    let Some(email) = identity.email.as_deref() else {
        return Err(AppError::Refused {
            message: "this Firebase account has no e-mail address, so no account here can be linked or created for it",
            code: "firebase_account_without_email",
        });
    };
    let tx = client.transaction().await?;
    let existing = tx
        .query_opt(
            "select id, firebase_uid from app_user where lower(email) = lower($1) for update",
            &[&email],
        )
        .await?;
    if let Some(row) = existing {
        let id: Uuid = row.get("id");
        let uid: Option<String> = row.get("firebase_uid");
        return match uid {
            Some(_) => Err(AppError::Refused {
                message: "this e-mail address belongs to an account linked to another Firebase user",
                code: "firebase_email_taken",
            }),
            None if identity.email_verified => {
                tx.execute(
                    "update app_user set firebase_uid = $2, updated_at = now() where id = $1",
                    &[&id, &identity.uid],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(user.id = %id, "Firebase user linked to the account with its verified e-mail");
                Ok(id)
            }
            None => Err(AppError::Refused {
                message: "an account with this e-mail address exists: verify the address with Firebase to sign in to it",
                code: "firebase_email_unverified",
            }),
        };
    }
    if !auto_provision {
        return Err(AppError::Refused {
            message: "no account here is linked to this Firebase user; ask an administrator",
            code: "account_not_provisioned",
        });
    }
    let (first, last) = names(identity.name.as_deref(), email);
    // A concurrent first request of the same user may have created it: keep theirs.
    let created = tx
        .query_opt(
            "insert into app_user (email, password_hash, first_name, last_name, role, firebase_uid)
             values ($1, null, $2, $3, 'student', $4)
             on conflict do nothing returning id",
            &[&email, &first, &last, &identity.uid],
        )
        .await?;
    tx.commit().await?;
    match created {
        Some(row) => {
            let id: Uuid = row.get("id");
            tracing::info!(user.id = %id, "student account created for a new Firebase user");
            Ok(id)
        }
        None => linked(&*client, &identity.uid)
            .await?
            .ok_or(AppError::Conflict {
                message: "this e-mail address was just taken; retry".to_owned(),
                code: "email_taken",
            }),
    }
}

async fn linked(db: &impl GenericClient, uid: &str) -> Result<Option<Uuid>, AppError> {
    let stmt = db
        .prepare_cached("select id from app_user where firebase_uid = $1")
        .await?;
    Ok(db.query_opt(&stmt, &[&uid]).await?.map(|r| r.get("id")))
}

/// Given and family name from the token's display name, else from the e-mail's local part.
fn names(display: Option<&str>, email: &str) -> (String, String) {
    let clip = |s: &str| s.chars().take(NAME_MAX).collect::<String>();
    let display = display.map(str::trim).filter(|s| !s.is_empty());
    match display.and_then(|d| d.split_once(char::is_whitespace)) {
        Some((first, last)) => (clip(first), clip(last.trim())),
        None => {
            let word = display.unwrap_or_else(|| email.split('@').next().unwrap_or(email));
            let word = if word.is_empty() { "User" } else { word };
            (clip(word), String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn names_come_from_the_display_name_or_the_address() {
        assert_eq!(
            names(Some("Ada King Lovelace"), "a@x.io"),
            ("Ada".into(), "King Lovelace".into())
        );
        assert_eq!(
            names(Some("Nour"), "a@x.io"),
            ("Nour".into(), String::new())
        );
        assert_eq!(names(None, "ada@x.io"), ("ada".into(), String::new()));
        assert_eq!(names(Some("  "), "@x.io"), ("User".into(), String::new()));
    }
}
