//! What the fake remembers, behind one mutex: its apps (each with its secret, tokens and
//! counters), the settings every app shares, and the faults a test injected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use crate::{BatchTaggingCall, SentMessage};

/// Forced refreshes of the stable token that WeChat allows in a day.
pub(crate) const FORCED_REFRESHES_PER_DAY: usize = 20;
/// How far apart two forced refreshes must be; a closer one refreshes nothing.
pub(crate) const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// WeChat's own tags, which every account has: (id, name).
pub(crate) const RESERVED_TAGS: [(i64, &str); 3] = [(0, "未分组"), (1, "黑名单"), (2, "星标组")];
/// The id of an account's first tag of its own; later ones count up from it.
pub(crate) const FIRST_TAG_ID: i64 = 100;

/// Which endpoint a fault or a daily quota applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `cgi-bin/token` and `cgi-bin/stable_token`.
    Token,
    /// `cgi-bin/qrcode/create`.
    QrCode,
    /// `cgi-bin/tags/get`.
    TagsGet,
    /// `cgi-bin/tags/create`.
    TagsCreate,
    /// `cgi-bin/tags/members/batchtagging`.
    BatchTagging,
    /// `cgi-bin/tags/getidlist`.
    TagIdList,
    /// `cgi-bin/message/custom/send`.
    CustomSend,
}

/// An injected fault: the next `remaining` calls to `endpoint` wait `delay`, then answer
/// `errcode` (or normally when it is `None`).
pub(crate) struct Fault {
    pub(crate) endpoint: Endpoint,
    pub(crate) errcode: Option<i64>,
    pub(crate) delay: Duration,
    pub(crate) remaining: usize,
}

/// The two token APIs hand out tokens that never replace each other.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Classic,
    Stable,
}

/// One issued access token.
pub(crate) struct TokenState {
    pub(crate) kind: TokenKind,
    pub(crate) expires_at: Instant,
    /// Set when a newer token of its kind replaced it: it works until then (`40001` after).
    pub(crate) valid_until: Option<Instant>,
}

/// What happens to an app's other tokens of the same kind when a new one is issued.
#[derive(Clone, Copy)]
pub(crate) enum Retire {
    /// They keep working for the overlap (a classic fetch).
    AfterOverlap,
    /// They stop at once (a forced refresh of the stable token).
    Now,
}

/// One official account.
pub(crate) struct App {
    pub(crate) secret: String,
    pub(crate) ip_whitelisted: bool,
    pub(crate) tokens: HashMap<String, TokenState>,
    /// The token `stable_token` hands out until it expires or is force-refreshed.
    pub(crate) stable: Option<String>,
    pub(crate) token_fetches: usize,
    pub(crate) forced_refreshes: usize,
    pub(crate) last_forced: Option<Instant>,
    /// Permanent codes by scene, so that the same scene gets the same ticket.
    pub(crate) permanent: HashMap<String, String>,
    /// Calls per endpoint made with one of its tokens (the daily quotas' counts).
    pub(crate) calls: HashMap<Endpoint, usize>,
    /// Its tags by id, WeChat's own (0-2) included.
    pub(crate) tags: BTreeMap<i64, String>,
    /// The id its next tag gets.
    pub(crate) next_tag_id: i64,
    /// `tags/create` calls that passed the token check.
    pub(crate) tag_creates: usize,
    /// Each user's tags, in the order they were given.
    pub(crate) user_tags: HashMap<String, Vec<i64>>,
    /// Tags a test says a user has beyond those given here (they count toward the 20).
    pub(crate) other_tags: HashMap<String, usize>,
    /// Its followers, when a test declared them; `None` accepts every openid.
    pub(crate) followers: Option<HashSet<String>>,
    /// Each user's last declared interaction (a follow or a scan), with the kefu messages
    /// sent since.
    pub(crate) interactions: HashMap<String, Interaction>,
    /// Every `batchtagging` call that passed the token check.
    pub(crate) batch_calls: Vec<BatchTaggingCall>,
    /// `message/custom/send` calls that passed the token check.
    pub(crate) kefu_calls: usize,
    /// The customer-service messages it accepted.
    pub(crate) kefu_sent: Vec<SentMessage>,
}

/// A user's last interaction, which opens WeChat's customer-service window: 3 messages
/// within 1 minute of a follow or a scan.
pub(crate) struct Interaction {
    pub(crate) at: SystemTime,
    pub(crate) sent: usize,
}

impl App {
    pub(crate) fn new(secret: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            ip_whitelisted: true,
            tokens: HashMap::new(),
            stable: None,
            token_fetches: 0,
            forced_refreshes: 0,
            last_forced: None,
            permanent: HashMap::new(),
            calls: HashMap::new(),
            tags: RESERVED_TAGS
                .iter()
                .map(|&(id, name)| (id, name.to_owned()))
                .collect(),
            next_tag_id: FIRST_TAG_ID,
            tag_creates: 0,
            user_tags: HashMap::new(),
            other_tags: HashMap::new(),
            followers: None,
            interactions: HashMap::new(),
            batch_calls: Vec::new(),
            kefu_calls: 0,
            kefu_sent: Vec::new(),
        }
    }
}

/// Everything the fake remembers.
pub(crate) struct State {
    /// The app the fake was started with (`FakeWeChat::appid`).
    pub(crate) first_appid: String,
    pub(crate) apps: HashMap<String, App>,
    /// Which app each token was issued to.
    pub(crate) owners: HashMap<String, String>,
    pub(crate) token_life: Duration,
    /// How long a replaced classic token keeps working (WeChat: 5 minutes).
    pub(crate) overlap: Duration,
    /// `qrcode/create` calls of every app, failed ones and unknown tokens included.
    pub(crate) qrcode_calls: usize,
    pub(crate) permanent_limit: usize,
    /// Calls each app may make to an endpoint before 45009.
    pub(crate) quotas: HashMap<Endpoint, usize>,
    pub(crate) faults: Vec<Fault>,
}

impl State {
    pub(crate) fn new(appid: &str, secret: &str) -> Self {
        Self {
            first_appid: appid.to_owned(),
            apps: HashMap::from([(appid.to_owned(), App::new(secret))]),
            owners: HashMap::new(),
            token_life: Duration::from_secs(7200),
            overlap: Duration::from_secs(300),
            qrcode_calls: 0,
            permanent_limit: 100_000,
            quotas: HashMap::new(),
            faults: Vec::new(),
        }
    }

    /// A new token of `kind` for `appid`, and its life in seconds; the app's other tokens
    /// of that kind are retired as `retire` says. Counts as one token fetch.
    pub(crate) fn issue(&mut self, appid: &str, kind: TokenKind, retire: Retire) -> (String, u64) {
        let token = format!("FAKE_{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        let (life, overlap) = (self.token_life, self.overlap);
        let Some(app) = self.apps.get_mut(appid) else {
            return (token, 0);
        };
        let until = match retire {
            Retire::AfterOverlap => now + overlap,
            Retire::Now => now,
        };
        for old in app.tokens.values_mut().filter(|t| t.kind == kind) {
            let until = old.valid_until.map_or(until, |u| u.min(until));
            old.valid_until = Some(until);
        }
        app.tokens.insert(
            token.clone(),
            TokenState {
                kind,
                expires_at: now + life,
                valid_until: None,
            },
        );
        if kind == TokenKind::Stable {
            app.stable = Some(token.clone());
        }
        app.token_fetches += 1;
        self.owners.insert(token.clone(), appid.to_owned());
        (token, life.as_secs())
    }
}
