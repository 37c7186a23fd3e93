//! Helpers of the operator subcommands (`migrate`, `seed`, `create-user`, `import`).

use anyhow::Context;
use deadpool_postgres::Pool;

use crate::{api::users::repo, cli::CreateUserArgs, config::Config, db, validate::Validator};

/// A small pool on `DATABASE_URL` with every migration applied.
pub async fn migrated_pool(config: &Config) -> anyhow::Result<Pool> {
    config.validate(false)?;
    let mut db_config = config.db.clone();
    db_config.max_connections = 2;
    let pool = db::pool::build(&db_config)?;
    let applied = db::migrate::run(&pool).await?;
    tracing::info!(applied, "migrations up to date");
    Ok(pool)
}

/// `create-user`: validates like the API and inserts the account.
pub async fn create_user(pool: &Pool, args: &CreateUserArgs) -> anyhow::Result<()> {
    let mut v = Validator::new();
    v.email("email", args.email.trim());
    v.length("password", &args.password, 8, 128);
    v.length("first-name", &args.first_name, 1, 100);
    v.length("last-name", &args.last_name, 1, 100);
    if let Err(crate::error::AppError::Validation { details }) = v.finish() {
        anyhow::bail!("invalid account: {details}");
    }
    let hash = crate::password::hash_blocking(&args.password)?;
    let client = pool.get().await.context("connecting to PostgreSQL")?;
    let user = repo::insert_user(
        &client,
        args.email.trim(),
        &hash,
        args.first_name.trim(),
        args.last_name.trim(),
        &args.role,
        None,
    )
    .await
    .map_err(|e| match e.as_db_error().and_then(|d| d.constraint()) {
        Some("app_user_email_key") => anyhow::anyhow!(
            "an account with e-mail {} already exists",
            args.email.trim()
        ),
        _ => anyhow::Error::new(e).context("creating the account"),
    })?;
    tracing::info!(id = %user.id, role = %args.role, "account created");
    println!("{}", user.id);
    Ok(())
}
