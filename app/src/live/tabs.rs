//! Browser only: one stream per browser, however many dashboards are open.
//!
//! Over HTTP/1.1 a browser opens at most six connections per host, and each
//! `EventSource` holds one for good, so a seventh dashboard tab would never
//! load; each tab would also cost the server a stream. The dashboards of one
//! browser therefore elect a leader with the Web Locks API: the tab holding
//! the lock [`LOCK`] opens the stream (`super::stream`) and passes every
//! frame and connection state to the others over the `BroadcastChannel`
//! [`CHANNEL`]; the others (followers) show what it passes on.
//!
//! ```text
//!   tab A (leader) ── EventSource ── server
//!      │ frames, state
//!      ▼ BroadcastChannel "pulse-dashboard"
//!   tab B, tab C (followers; each waits in the lock's queue)
//! ```
//!
//! When the leader closes or navigates away the browser releases its lock;
//! the next tab in the queue becomes leader and opens its own stream, whose
//! first frame is the newest snapshot (older ones are ignored by
//! [`LiveStats::accept`], so versions never go backwards). A follower that
//! joins asks (`hello`) and the leader answers with its state and its newest
//! frame. Where Web Locks or `BroadcastChannel` is missing, each tab is its
//! own leader, as before.
//!
//! A leader that stops without closing (a background tab the browser
//! freezes keeps its lock) must not leave the others showing old figures
//! under a "Live" badge: the leader says `beat` every [`BEAT`], and a
//! follower that has heard nothing for [`SILENT`] takes the stand-in lock
//! [`STAND_IN_LOCK`] if it is free and opens a stream of its own, passing it
//! on like a leader. The stand-in steps down (closing its stream) as soon as
//! the leader is heard again, or becomes the leader when it gets the lock.

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
    time::Duration,
};

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::{closure::Closure, prelude::wasm_bindgen, JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent};

use super::ConnectionState;
use super::{
    go_to_login,
    stream::{self, Report},
    LiveStats,
};

/// The Web Lock whose holder holds the browser's stream.
const LOCK: &str = "pulse-dashboard-stream";
/// The Web Lock of the one follower that streams while the leader is silent.
const STAND_IN_LOCK: &str = "pulse-dashboard-stand-in";
/// The channel the leader passes frames on.
const CHANNEL: &str = "pulse-dashboard";
/// How often the leader (or a stand-in) says it is there.
const BEAT: Duration = Duration::from_secs(1);
/// Silence after which a follower stands in for the leader.
const SILENT: Duration = Duration::from_secs(3);
/// How often a follower checks for that silence.
const WATCH: Duration = Duration::from_millis(500);

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (declared here: web-sys has it only behind
    /// `web_sys_unstable_apis`).
    type LockManager;

    /// `locks.request(name, callback)`: the lock is held until the promise
    /// the callback returns settles.
    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, callback: &js_sys::Function) -> js_sys::Promise;

    /// `locks.request(name, options, callback)`: with `{ifAvailable: true}`
    /// the callback gets `null` at once when the lock is held.
    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &js_sys::Function,
    ) -> js_sys::Promise;
}

/// What dashboards of one browser tell each other, as short strings on the
/// channel (`hello`, `state:live`, `ended:logged_out`, `sync:{…}`).
#[derive(Debug, PartialEq, Eq)]
enum TabMessage {
    /// A snapshot, as the stream's frame data (JSON).
    Sync { data: String },
    /// The first snapshot of a (re)connected stream, shown whatever version
    /// the tab holds.
    First { data: String },
    /// The leader's connection state.
    State { state: ConnectionState },
    /// The session is over (`logged_out` or `expired`).
    SessionEnded { reason: String },
    /// A new follower asks for the leader's state and newest snapshot.
    Hello,
    /// The leader (`lead`) or a stand-in (`stand-in`) is there.
    Beat { leader: bool },
}

impl TabMessage {
    fn encode(&self) -> String {
        match self {
            TabMessage::Sync { data } => format!("sync:{data}"),
            TabMessage::First { data } => format!("first:{data}"),
            TabMessage::State { state } => format!("state:{}", state.key()),
            TabMessage::SessionEnded { reason } => format!("ended:{reason}"),
            TabMessage::Hello => "hello".to_string(),
            TabMessage::Beat { leader: true } => "beat:lead".to_string(),
            TabMessage::Beat { leader: false } => "beat:stand-in".to_string(),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        if text == "hello" {
            return Some(TabMessage::Hello);
        }
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "sync" => Some(TabMessage::Sync {
                data: rest.to_string(),
            }),
            "first" => Some(TabMessage::First {
                data: rest.to_string(),
            }),
            "state" => Some(TabMessage::State {
                state: ConnectionState::from_key(rest)?,
            }),
            "ended" => Some(TabMessage::SessionEnded {
                reason: rest.to_string(),
            }),
            "beat" => match rest {
                "lead" => Some(TabMessage::Beat { leader: true }),
                "stand-in" => Some(TabMessage::Beat { leader: false }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// This tab's part in the election.
struct Tab {
    live: LiveStats,
    channel: Option<BroadcastChannel>,
    /// Set while this tab leads: its stream, and its newest frame for late joiners.
    stream: RefCell<Option<stream::Stream>>,
    newest: RefCell<Option<String>>,
    /// Resolves the promise that holds the lock (releasing it).
    release: RefCell<Option<js_sys::Function>>,
    /// Set once this tab knows the session is over: it leaves for the login
    /// page and must neither lead (a new stream would be refused, and its
    /// "expired" would overwrite the reason) nor pass anything on.
    ended: Cell<bool>,
    on_message: RefCell<Option<MessageHandler>>,
    /// When (browser clock, ms) a leader or stand-in was last heard.
    last_heard_ms: Cell<f64>,
    /// Set while this tab streams as a stand-in: resolves the promise that
    /// holds the stand-in lock.
    stand_in: RefCell<Option<js_sys::Function>>,
    /// While this tab streams: says so every [`BEAT`].
    beat: RefCell<Option<IntervalHandle>>,
    /// While this tab follows: watches for a silent leader every [`WATCH`].
    watchdog: RefCell<Option<IntervalHandle>>,
}

/// The channel's `onmessage` callback, kept alive while the tab listens.
type MessageHandler = Closure<dyn FnMut(MessageEvent)>;

thread_local! {
    /// The dashboard on this page, for [`announce_logout`].
    static CURRENT: RefCell<Weak<Tab>> = const { RefCell::new(Weak::new()) };
}

/// Joins the browser's dashboards (leading at once when alone) until the
/// component is cleaned up.
pub(super) fn subscribe(live: LiveStats) {
    let locks = web_sys::window()
        .map(|window| window.navigator())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &JsValue::from_str("locks")).ok())
        .filter(|locks| !locks.is_undefined() && !locks.is_null())
        .map(JsCast::unchecked_into::<LockManager>);
    let channel = BroadcastChannel::new(CHANNEL).ok();
    let tab = Rc::new(Tab {
        live,
        channel: channel.clone(),
        stream: RefCell::default(),
        newest: RefCell::default(),
        release: RefCell::default(),
        ended: Cell::new(false),
        on_message: RefCell::default(),
        last_heard_ms: Cell::new(js_sys::Date::now()),
        stand_in: RefCell::default(),
        beat: RefCell::default(),
        watchdog: RefCell::default(),
    });
    match (locks, channel) {
        (Some(locks), Some(channel)) => {
            CURRENT.with(|current| *current.borrow_mut() = Rc::downgrade(&tab));
            tab.listen(&channel);
            tab.post(&TabMessage::Hello);
            tab.watch_the_leader(JsValue::from(&locks).unchecked_into());
            tab.queue_for_lead(&locks);
        }
        // Without both, every tab keeps its own stream.
        _ => tab.lead(),
    }
    let tab = SendWrapper::new(tab);
    on_cleanup(move || tab.take().leave());
}

/// Tells the other dashboards that this one is logging out (its own form
/// takes it to the login page).
pub(super) fn announce_logout() {
    if let Some(tab) = CURRENT.with(|current| current.borrow().upgrade()) {
        tab.end("logged_out", false);
    }
}

impl Tab {
    /// Handles what other dashboards post.
    fn listen(self: &Rc<Self>, channel: &BroadcastChannel) {
        let tab = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let (Some(tab), Some(text)) = (tab.upgrade(), event.data().as_string()) else {
                return;
            };
            match TabMessage::decode(&text) {
                Some(message) => tab.receive(message),
                None => leptos::logging::warn!("ignoring an unknown dashboard message"),
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        *self.on_message.borrow_mut() = Some(on_message);
    }

    fn receive(&self, message: TabMessage) {
        if matches!(
            message,
            TabMessage::Beat { .. }
                | TabMessage::Sync { .. }
                | TabMessage::First { .. }
                | TabMessage::State { .. }
        ) {
            self.last_heard_ms.set(js_sys::Date::now());
        }
        if matches!(message, TabMessage::Beat { leader: true }) && self.stand_in.borrow().is_some()
        {
            // The leader is back: it streams again, so this tab stops.
            self.step_down();
        }
        let leading = self.stream.borrow().is_some();
        match message {
            TabMessage::Beat { .. } => {}
            TabMessage::Hello if leading => {
                self.post(&TabMessage::State {
                    state: self.live.connection.get_untracked(),
                });
                if let Some(data) = self.newest.borrow().clone() {
                    self.post(&TabMessage::Sync { data });
                }
            }
            TabMessage::Hello => {}
            // Whoever says it, the session is over for every tab.
            TabMessage::SessionEnded { reason } => self.end(&reason, true),
            // A leader has its own stream; anything else passed on is stale.
            _ if leading => {}
            TabMessage::Sync { data } => self.show(&data, false),
            TabMessage::First { data } => self.show(&data, true),
            TabMessage::State { state } => self.live.connection.set(state),
        }
    }

    /// Waits in the lock's queue; leads once granted, until the page goes.
    fn queue_for_lead(self: &Rc<Self>, locks: &LockManager) {
        let tab = Rc::downgrade(self);
        let on_lock = Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |_lock| {
            let Some(tab) = tab.upgrade() else {
                // The page is gone already: release at once.
                return js_sys::Promise::resolve(&JsValue::UNDEFINED);
            };
            tab.lead();
            // Held until `leave` resolves it (or the browser drops the page).
            js_sys::Promise::new(&mut |resolve, _reject| {
                *tab.release.borrow_mut() = Some(resolve);
            })
        });
        // Handed to JavaScript for good: the lock may be granted after this
        // page's dashboard is gone, and the callback must still be callable.
        let _ = locks.request(LOCK, on_lock.into_js_value().unchecked_ref());
    }

    /// Every [`WATCH`], while this tab follows: after [`SILENT`] without a
    /// word from a leader, takes the stand-in lock if it is free and streams.
    fn watch_the_leader(self: &Rc<Self>, locks: LockManager) {
        let tab = Rc::downgrade(self);
        let watching = set_interval_with_handle(
            move || {
                let Some(tab) = tab.upgrade() else {
                    return;
                };
                let silent =
                    js_sys::Date::now() - tab.last_heard_ms.get() > SILENT.as_millis() as f64;
                if silent && tab.stream.borrow().is_none() && !tab.ended.get() {
                    tab.try_to_stand_in(&locks);
                }
            },
            WATCH,
        );
        *self.watchdog.borrow_mut() = watching.ok();
    }

    fn try_to_stand_in(self: &Rc<Self>, locks: &LockManager) {
        let tab = Rc::downgrade(self);
        let on_lock =
            Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |lock: JsValue| {
                let tab = tab.upgrade();
                let Some(tab) = tab.filter(|tab| !lock.is_null() && tab.stream.borrow().is_none())
                else {
                    return js_sys::Promise::resolve(&JsValue::UNDEFINED);
                };
                let held = js_sys::Promise::new(&mut |resolve, _reject| {
                    *tab.stand_in.borrow_mut() = Some(resolve);
                });
                tab.open_stream(false);
                held
            });
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
        let _ = locks.request_with_options(
            STAND_IN_LOCK,
            &options,
            on_lock.into_js_value().unchecked_ref(),
        );
    }

    /// Stops standing in: closes the stream and frees the stand-in lock.
    fn step_down(&self) {
        stop(&self.beat);
        self.stream.borrow_mut().take();
        release(&self.stand_in);
    }

    /// Leads: opens this tab's stream (keeping the one it streams as a
    /// stand-in, if any) and passes what it says to the others (not once the
    /// session is known to be over).
    fn lead(self: &Rc<Self>) {
        if self.ended.get() {
            return;
        }
        stop(&self.watchdog);
        if release(&self.stand_in) && self.stream.borrow().is_some() {
            self.start_beating(true);
            return;
        }
        self.open_stream(true);
    }

    /// Says every [`BEAT`] that this tab streams (`leader`: as the leader).
    fn start_beating(self: &Rc<Self>, leader: bool) {
        let tab = Rc::downgrade(self);
        let beating = set_interval_with_handle(
            move || {
                if let Some(tab) = tab.upgrade() {
                    tab.post(&TabMessage::Beat { leader });
                }
            },
            BEAT,
        );
        stop(&self.beat);
        *self.beat.borrow_mut() = beating.ok();
        self.post(&TabMessage::Beat { leader });
    }

    /// Opens this tab's stream and passes what it says to the others.
    fn open_stream(self: &Rc<Self>, leader: bool) {
        if self.ended.get() {
            return;
        }
        self.start_beating(leader);
        let tab = Rc::downgrade(self);
        let report = Rc::new(move |report: Report| {
            let Some(tab) = tab.upgrade() else {
                return;
            };
            match report {
                Report::Sync(data) => {
                    tab.show(&data, false);
                    tab.post(&TabMessage::Sync { data: data.clone() });
                    *tab.newest.borrow_mut() = Some(data);
                }
                Report::First(data) => {
                    tab.show(&data, true);
                    tab.post(&TabMessage::First { data: data.clone() });
                    *tab.newest.borrow_mut() = Some(data);
                }
                Report::State(state) => {
                    tab.live.connection.set(state);
                    tab.post(&TabMessage::State { state });
                }
                Report::SessionEnded(reason) => tab.end(&reason, true),
            }
        });
        *self.stream.borrow_mut() = Some(stream::open(report));
    }

    /// The session is over: tells the other dashboards once, closes this
    /// tab's stream, and (unless the page is already leaving) goes to the
    /// login page saying why.
    fn end(&self, reason: &str, navigate: bool) {
        if self.ended.replace(true) {
            return;
        }
        self.post(&TabMessage::SessionEnded {
            reason: reason.to_string(),
        });
        self.step_down();
        stop(&self.watchdog);
        if navigate {
            go_to_login(reason);
        }
    }

    /// Shows a snapshot frame's data (`first`: a stream's first, shown
    /// whatever version the tab holds).
    fn show(&self, data: &str, first: bool) {
        let now = js_sys::Date::now() as i64;
        match crate::model::reading::parse::<crate::model::StatsSnapshot>(data) {
            Some(snapshot) if first => self.live.accept_first(snapshot, now),
            Some(snapshot) => self.live.accept(snapshot, now),
            None => leptos::logging::warn!("ignoring an unreadable stats event"),
        }
    }

    fn post(&self, message: &TabMessage) {
        if let Some(channel) = &self.channel {
            let _ = channel.post_message(&JsValue::from_str(&message.encode()));
        }
    }

    /// Closes the stream, releases the lock and leaves the channel.
    fn leave(&self) {
        self.step_down();
        stop(&self.watchdog);
        release(&self.release);
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
        CURRENT.with(|current| *current.borrow_mut() = Weak::new());
    }
}

/// Stops the interval `handle` holds, if any.
fn stop(handle: &RefCell<Option<IntervalHandle>>) {
    if let Some(interval) = handle.borrow_mut().take() {
        interval.clear();
    }
}

/// Releases the Web Lock whose holding promise `resolve` settles, if held;
/// whether it was.
fn release(resolve: &RefCell<Option<js_sys::Function>>) -> bool {
    let Some(resolve) = resolve.borrow_mut().take() else {
        return false;
    };
    let _ = resolve.call0(&JsValue::UNDEFINED);
    true
}
