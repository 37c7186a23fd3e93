//! Alerts pushed to operators through the stand-in Bot API: one message per change and per
//! operator, across the fleet; a flapping alert held back by the cool-down; the Bot API's flood
//! control honoured; Redis away said so. The alert is a real one: the test database grown past
//! its quota and shrunk back.

use std::time::Duration;

use crate::helpers::{
    bot::{ADMIN, OTHER_ADMIN},
    bot_api::FakeBotApi,
    ops::{about, counter, grow, notifying_app, shrink, wait_raised, wait_stats},
};

const ALERT: &str = "quota_database";

#[tokio::test]
async fn an_alert_raised_and_cleared_sends_exactly_two_messages_to_each_operator() {
    let api = FakeBotApi::start().await;
    let app = notifying_app(&api, |_| {}).await;

    grow(&app, "ballast", 6).await;
    api.wait_for("the raise, told to both operators", |a| {
        about(a, ADMIN, ALERT).len() == 1 && about(a, OTHER_ADMIN, ALERT).len() == 1
    })
    .await;
    let raised = &about(&api, ADMIN, ALERT)[0];
    assert!(
        raised.contains("<b>Alert raised: quota_database</b>"),
        "{raised}"
    );
    assert!(
        raised.contains("% of DATABASE_QUOTA_MB"),
        "the figure: {raised}"
    );
    assert!(
        raised.contains("threshold: 80 %"),
        "the threshold: {raised}"
    );
    assert!(raised.contains("👉 Look at /quota"), "the hint: {raised}");
    assert!(!raised.contains("Redis unreachable"), "{raised}");

    shrink(&app, "ballast").await;
    api.wait_for("the clear", |a| {
        about(a, ADMIN, ALERT).len() == 2 && about(a, OTHER_ADMIN, ALERT).len() == 2
    })
    .await;
    let cleared = &about(&api, OTHER_ADMIN, ALERT)[1];
    assert!(
        cleared.contains("✅ <b>Alert cleared: quota_database</b>"),
        "{cleared}"
    );
    assert!(cleared.contains("raised for "), "{cleared}");

    // Both changes read, nothing left to deliver: no third message is on its way.
    let s = wait_stats(&app, "idle", |s| {
        counter(s, "changes") >= 2 && counter(s, "queued") == 0
    })
    .await;
    for chat in [ADMIN, OTHER_ADMIN] {
        assert_eq!(
            about(&api, chat, ALERT).len(),
            2,
            "{:?}",
            api.delivered(chat)
        );
    }
    assert!(
        counter(&s, "sent") >= 4 && counter(&s, "announced") >= 2,
        "{s}"
    );
    assert_eq!(s["notifications"]["coordinated"], true);
    let sends = api.sends(ADMIN);
    assert_eq!(sends[0].body["parse_mode"], "HTML");
    assert!(sends[0].path.ends_with("/sendMessage"));
}

#[tokio::test]
async fn two_instances_send_one_message_per_change() {
    let api = FakeBotApi::start().await;
    let first = notifying_app(&api, |_| {}).await;
    let second = first.spawn_peer().await;

    grow(&first, "ballast", 6).await;
    wait_raised(&first, ALERT, true).await;
    wait_raised(&second, ALERT, true).await;
    shrink(&first, "ballast").await;
    wait_raised(&first, ALERT, false).await;
    wait_raised(&second, ALERT, false).await;
    api.wait_for("a raise and a clear", |a| {
        about(a, ADMIN, ALERT).len() >= 2 && about(a, OTHER_ADMIN, ALERT).len() >= 2
    })
    .await;
    // Each instance read both changes, and nothing waits to be delivered.
    let (a, b) = (
        wait_stats(&first, "both changes read", |s| {
            counter(s, "changes") >= 2 && counter(s, "queued") == 0
        })
        .await,
        wait_stats(&second, "both changes read", |s| {
            counter(s, "changes") >= 2 && counter(s, "queued") == 0
        })
        .await,
    );

    for chat in [ADMIN, OTHER_ADMIN] {
        let texts = about(&api, chat, ALERT);
        assert_eq!(
            texts.len(),
            2,
            "one per change, not per instance: {texts:#?}"
        );
        assert!(texts[0].contains("Alert raised") && texts[1].contains("Alert cleared"));
    }
    // Each change was announced by one instance and found announced by the other.
    assert_eq!(counter(&a, "announced") + counter(&b, "announced"), 2);
    assert_eq!(
        counter(&a, "announcedElsewhere") + counter(&b, "announcedElsewhere"),
        2,
        "{a}\n{b}"
    );
}

#[tokio::test]
async fn a_flapping_alert_is_held_back_by_the_cool_down() {
    let api = FakeBotApi::start().await;
    let app = notifying_app(&api, |_| {}).await;

    for round in 0..3 {
        grow(&app, "ballast", 6).await;
        wait_raised(&app, ALERT, true).await;
        if round < 2 {
            shrink(&app, "ballast").await;
            wait_raised(&app, ALERT, false).await;
        }
    }
    // Raise, clear, raise, clear, raise: the first raise and clear were told; the two later
    // raises fell within the ten-minute cool-down (and so did their clear, told to nobody).
    let s = wait_stats(&app, "the five changes read", |s| {
        counter(s, "changes") >= 5 && counter(s, "held") >= 2 && counter(s, "queued") == 0
    })
    .await;
    assert_eq!(counter(&s, "held"), 2, "{s}");
    for chat in [ADMIN, OTHER_ADMIN] {
        let texts = about(&api, chat, ALERT);
        assert_eq!(texts.len(), 2, "{texts:#?}");
        assert!(texts[0].contains("Alert raised") && texts[1].contains("Alert cleared"));
    }
}

#[tokio::test]
async fn an_alert_still_raised_when_the_cool_down_ends_is_told_with_what_was_held_back() {
    let api = FakeBotApi::start().await;
    let app = notifying_app(&api, |c| c.notify.alert_cooldown_secs = 2).await;

    grow(&app, "ballast", 6).await;
    wait_raised(&app, ALERT, true).await;
    shrink(&app, "ballast").await;
    wait_raised(&app, ALERT, false).await;
    grow(&app, "ballast", 6).await;
    wait_raised(&app, ALERT, true).await;
    api.wait_for("the raise after the cool-down", |a| {
        about(a, ADMIN, ALERT).len() == 3
    })
    .await;
    let texts = about(&api, ADMIN, ALERT);
    assert!(texts[1].contains("Alert cleared"), "{texts:#?}");
    assert!(
        texts[2].contains("Alert raised")
            && texts[2].contains("Still raised after the 2s cool-down"),
        "{}",
        texts[2]
    );
}

#[tokio::test]
async fn the_bot_apis_429_is_honoured_and_delays_no_other_operator() {
    let api = FakeBotApi::start().await;
    // The first message about the alert to ADMIN meets flood control: "retry after 3".
    api.flood(ADMIN, ALERT, 1, 3);
    let app = notifying_app(&api, |_| {}).await;

    grow(&app, "ballast", 6).await;
    api.wait_for("the raise delivered to ADMIN", |a| {
        about(a, ADMIN, ALERT).len() == 1
    })
    .await;
    let mentions = |c: &crate::helpers::bot_api::Call| {
        c.body["text"].as_str().is_some_and(|t| t.contains(ALERT))
    };
    let attempts: Vec<_> = api.sends(ADMIN).into_iter().filter(mentions).collect();
    assert_eq!(attempts.len(), 2, "one refusal, one delivery");
    assert_eq!((attempts[0].status, attempts[1].status), (429, 200));
    assert!(
        attempts[1].at.duration_since(attempts[0].at) >= Duration::from_secs(3),
        "retried before retry_after: {:?}",
        attempts[1].at.duration_since(attempts[0].at)
    );
    assert_eq!(attempts[0].body, attempts[1].body, "the same message");
    // The other operator's queue went on meanwhile.
    let other: Vec<_> = api
        .sends(OTHER_ADMIN)
        .into_iter()
        .filter(mentions)
        .collect();
    assert_eq!(other[0].status, 200);
    assert!(other[0].at < attempts[1].at);
    let s = wait_stats(&app, "the retry counted", |s| {
        counter(s, "rateLimited") >= 1
    })
    .await;
    assert!(
        counter(&s, "retries") >= 1 && counter(&s, "failed") == 0,
        "{s}"
    );
}

#[tokio::test]
async fn with_redis_unreachable_each_instance_sends_its_own_and_says_so() {
    let api = FakeBotApi::start().await;
    let dead = crate::helpers::dead_port().await;
    let first = notifying_app(&api, |c| {
        c.redis.redis_url = Some(format!("redis://127.0.0.1:{dead}").into());
    })
    .await;
    let second = first.spawn_peer().await;

    grow(&first, "ballast", 6).await;
    api.wait_for("a raise from each instance", |a| {
        about(a, ADMIN, ALERT).len() >= 2 && about(a, OTHER_ADMIN, ALERT).len() >= 2
    })
    .await;
    for app in [&first, &second] {
        wait_stats(app, "the raise read", |s| {
            counter(s, "changes") >= 1 && counter(s, "queued") == 0
        })
        .await;
    }
    assert_eq!(about(&api, ADMIN, ALERT).len(), 2, "one each");
    for text in about(&api, ADMIN, ALERT) {
        assert!(text.contains("Alert raised"), "{text}");
        assert!(
            text.contains("Redis unreachable: each instance reports its own alerts."),
            "{text}"
        );
    }
    for app in [&first, &second] {
        let s = wait_stats(app, "the raise read", |s| counter(s, "changes") >= 1).await;
        assert_eq!(s["notifications"]["coordinated"], false, "{s}");
    }
}
