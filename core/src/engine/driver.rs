//! The one driver every host calls (docs/ARCHITECTURE.md §2, "core drives, hosts carry out").
//! The engine and the timer decide; this runs them: it carries an [`Outcome`] out until the
//! request is forwarded, answered or paused ([`RequestDriver`]), keeps which call a paused
//! request waits for, keeps the timer's calls in flight ([`TimerDriver`]), and caps every
//! callout answer the same way ([`read`]). A host only implements the ports below over its
//! own calls: [`Dispatch`] (make a call), [`Port`] (forward or reply) and [`Answer`] (what a
//! callout's answer looks like before it is read).

use std::collections::VecDeque;

use crate::engine::timer::{Timer, TimerCall};
use crate::engine::{Engine, Outcome, Pending};
use crate::ports::{Call, Host, Request, Response};
use crate::reply::Reply;
use crate::request::filter::HeaderEdit;
use crate::time::Millis;

/// What became of a call a host was asked to make.
#[derive(Debug)]
pub enum Started<Id> {
    /// Under way: its answer comes later under this id.
    Pending(Id),
    /// It could not be made (no such cluster, no healthy host).
    Failed,
    /// Already answered: a host that makes calls synchronously (the auth service), or one
    /// that may be answered from inside its own dispatch (the dynamic module).
    Now(Response),
}

/// How a host makes a [`Call`].
pub trait Dispatch {
    /// How the host names a call in flight, to match its answer.
    type Id: PartialEq;
    fn start(&mut self, call: &Call) -> Started<Self::Id>;
}

/// How a host carries out what the engine decided for a request.
pub trait Port: Dispatch {
    /// Apply these edits and let the request go upstream.
    fn forward(&mut self, edits: Vec<HeaderEdit<'_>>);
    /// Answer the request locally.
    fn reply(&mut self, reply: Reply);
}

/// A callout's answer as the host holds it, before it is read: [`read`] asks for the body
/// only when it fits the call's cap, so an oversized answer is never copied.
pub trait Answer {
    /// False when no answer came (timeout, reset, refused): nothing else is asked then.
    fn arrived(&self) -> bool;
    /// The `:status`; `None` when missing or unreadable.
    fn status(&self) -> Option<u32>;
    /// The body's size, known before it is read.
    fn size(&self) -> usize;
    /// The whole body (asked only when it is not empty and fits the cap); `None` when the
    /// host cannot read it.
    fn body(self) -> Option<Vec<u8>>;
}

/// The one answer cap: no answer is `status: None`; a body larger than `max` is
/// `body: None` (the status is kept); an empty body is read without asking the host.
pub fn read(answer: impl Answer, max: usize) -> Response {
    if !answer.arrived() {
        return Response::none();
    }
    let status = answer.status();
    let size = answer.size();
    let body = if size > max {
        None
    } else if size == 0 {
        Some(Vec::new())
    } else {
        answer.body()
    };
    Response { status, body }
}

/// An answer already read whole (an in-process call, or a client that bounded its read).
#[derive(Debug)]
pub struct Received {
    pub status: u32,
    pub body: Vec<u8>,
}

impl Answer for Received {
    fn arrived(&self) -> bool {
        true
    }

    fn status(&self) -> Option<u32> {
        Some(self.status)
    }

    fn size(&self) -> usize {
        self.body.len()
    }

    fn body(self) -> Option<Vec<u8>> {
        Some(self.body)
    }
}

/// Where a request stands once its outcome was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Forwarded upstream (a paused request is to be resumed by the host).
    Forwarded,
    /// Answered locally.
    Replied,
    /// Paused for a call; its answer goes to [`RequestDriver::on_response`].
    Paused,
}

/// One request's driver: the outcome loop, and the call a paused request waits for (at
/// most one at a time).
#[derive(Debug)]
pub struct RequestDriver<Id> {
    waiting: Option<(Id, Pending)>,
}

impl<Id> Default for RequestDriver<Id> {
    fn default() -> Self {
        RequestDriver { waiting: None }
    }
}

impl<Id: PartialEq> RequestDriver<Id> {
    /// A request's headers arrived: run it through the engine and carry out the outcome.
    pub fn on_request<P: Port<Id = Id>>(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        req: &dyn Request,
        now: Millis,
        port: &mut P,
    ) -> Done {
        let outcome = engine.on_request(host, req, now);
        self.carry_out(engine, host, req, outcome, port)
    }

    /// The call `id` was answered. `None` when the request waits for no such call: the
    /// answer is ignored and the request keeps waiting.
    pub fn on_response<P: Port<Id = Id>>(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        req: &dyn Request,
        id: Id,
        answer: impl Answer,
        port: &mut P,
    ) -> Option<Done> {
        match self.waiting.take() {
            Some((waited, pending)) if waited == id => {
                let response = read(answer, pending.max_answer());
                let outcome = engine.on_response(host, req, pending, response);
                Some(self.carry_out(engine, host, req, outcome, port))
            }
            other => {
                self.waiting = other;
                None
            }
        }
    }

    /// Forwards, replies or pauses; a call that cannot be made or is answered at once goes
    /// straight back to the engine.
    fn carry_out<'a, P: Port<Id = Id>>(
        &mut self,
        engine: &'a Engine,
        host: &dyn Host,
        req: &dyn Request,
        mut outcome: Outcome<'a>,
        port: &mut P,
    ) -> Done {
        loop {
            outcome = match outcome {
                Outcome::Forward(edits) => {
                    port.forward(edits);
                    return Done::Forwarded;
                }
                Outcome::Reply(reply) => {
                    port.reply(reply);
                    return Done::Replied;
                }
                Outcome::Call(call, pending) => match port.start(&call) {
                    Started::Pending(id) => {
                        self.waiting = Some((id, pending));
                        return Done::Paused;
                    }
                    Started::Failed => engine.on_dispatch_failed(host, pending),
                    Started::Now(response) => engine.on_response(host, req, pending, response),
                },
            };
        }
    }
}

/// The timer's driver: the host instance's [`Timer`] and its calls in flight, each with
/// the cap of its answer.
#[derive(Debug)]
pub struct TimerDriver<Id> {
    timer: Timer,
    calls: Vec<(Id, TimerCall, usize)>,
}

impl<Id> Default for TimerDriver<Id> {
    fn default() -> Self {
        TimerDriver::new(Timer::default())
    }
}

impl<Id> TimerDriver<Id> {
    pub fn new(timer: Timer) -> Self {
        TimerDriver {
            timer,
            calls: Vec::new(),
        }
    }
}

impl<Id: PartialEq> TimerDriver<Id> {
    /// One tick: the timer's work, and the calls it asks for.
    pub fn tick<D: Dispatch<Id = Id>>(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        now: Millis,
        port: &mut D,
    ) {
        let calls = self.timer.tick(engine, host, now);
        self.dispatch(engine, host, calls, port);
    }

    /// The call `id` was answered. False when no timer call is in flight under `id` (the
    /// answer is ignored).
    pub fn on_response<D: Dispatch<Id = Id>>(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        id: Id,
        answer: impl Answer,
        now: Millis,
        port: &mut D,
    ) -> bool {
        let Some(at) = self.calls.iter().position(|(i, _, _)| *i == id) else {
            return false;
        };
        let (_, call, max) = self.calls.swap_remove(at);
        let next = self
            .timer
            .on_response(engine, host, call, read(answer, max), now);
        self.dispatch(engine, host, next, port);
        true
    }

    fn dispatch<D: Dispatch<Id = Id>>(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        calls: Vec<(Call, TimerCall)>,
        port: &mut D,
    ) {
        // In order; an answer given at once may ask for the next call (a sync backlog
        // draining), which goes after the others.
        let mut queue = VecDeque::from(calls);
        while let Some((call, timer_call)) = queue.pop_front() {
            match port.start(&call) {
                Started::Pending(id) => self.calls.push((id, timer_call, call.max_answer)),
                Started::Failed => self.timer.on_dispatch_failed(host, timer_call),
                Started::Now(response) => {
                    let now = host.clock();
                    queue.extend(
                        self.timer
                            .on_response(engine, host, timer_call, response, now),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "../tests/engine/driver.rs"]
mod tests;
