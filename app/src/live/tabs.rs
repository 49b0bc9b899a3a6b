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

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::{closure::Closure, prelude::wasm_bindgen, JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent};

use super::{
    go_to_login,
    stream::{self, Report},
    LiveStats,
};
use crate::components::ConnectionState;

/// The Web Lock whose holder holds the browser's stream.
const LOCK: &str = "pulse-dashboard-stream";
/// The channel the leader passes frames on.
const CHANNEL: &str = "pulse-dashboard";

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (declared here: web-sys has it only behind
    /// `web_sys_unstable_apis`).
    type LockManager;

    /// `locks.request(name, callback)`: the lock is held until the promise
    /// the callback returns settles.
    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, callback: &js_sys::Function) -> js_sys::Promise;
}

/// What dashboards of one browser tell each other, as short strings on the
/// channel (`hello`, `state:live`, `ended:logged_out`, `sync:{…}`).
#[derive(Debug, PartialEq, Eq)]
enum TabMessage {
    /// A snapshot, as the stream's frame data (JSON).
    Sync { data: String },
    /// The leader's connection state.
    State { state: ConnectionState },
    /// The session is over (`logged_out` or `expired`).
    SessionEnded { reason: String },
    /// A new follower asks for the leader's state and newest snapshot.
    Hello,
}

impl TabMessage {
    fn encode(&self) -> String {
        match self {
            TabMessage::Sync { data } => format!("sync:{data}"),
            TabMessage::State { state } => format!("state:{}", state.key()),
            TabMessage::SessionEnded { reason } => format!("ended:{reason}"),
            TabMessage::Hello => "hello".to_string(),
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
            "state" => Some(TabMessage::State {
                state: ConnectionState::from_key(rest)?,
            }),
            "ended" => Some(TabMessage::SessionEnded {
                reason: rest.to_string(),
            }),
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
    });
    match (locks, channel) {
        (Some(locks), Some(channel)) => {
            CURRENT.with(|current| *current.borrow_mut() = Rc::downgrade(&tab));
            tab.listen(&channel);
            tab.post(&TabMessage::Hello);
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
        let leading = self.stream.borrow().is_some();
        match message {
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
            TabMessage::Sync { data } => self.show(&data),
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

    /// Opens this tab's stream and passes what it says to the others (not
    /// once the session is known to be over).
    fn lead(self: &Rc<Self>) {
        if self.ended.get() {
            return;
        }
        let tab = Rc::downgrade(self);
        let report = Rc::new(move |report: Report| {
            let Some(tab) = tab.upgrade() else {
                return;
            };
            match report {
                Report::Sync(data) => {
                    tab.show(&data);
                    tab.post(&TabMessage::Sync { data: data.clone() });
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
        self.stream.borrow_mut().take();
        if navigate {
            go_to_login(reason);
        }
    }

    /// Shows a snapshot frame's data.
    fn show(&self, data: &str) {
        match crate::model::reading::parse::<crate::model::StatsSnapshot>(data) {
            Some(snapshot) => self.live.accept(snapshot, js_sys::Date::now() as i64),
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
        self.stream.borrow_mut().take();
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
        CURRENT.with(|current| *current.borrow_mut() = Weak::new());
    }
}
