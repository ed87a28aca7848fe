//! One load shared by the concurrent requests that need it: the leader's flight, how the others
//! wait on it, and how it is taken down when the leader finishes or is dropped. The key cache
//! shares a KV read per key this way, and the change view a sync of the feed.
//!
//! Waiters are not woken by the leader: on Workers each request runs in its own I/O context, and
//! a request whose only wake-up would come from another request's context is cancelled as hung.
//! Each waiter instead looks at the flight after short pauses of its own ([`Pause`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A short wait that keeps the waiting request's own context busy: a timer at the edge
/// (`setTimeout`), a yield in native tests.
#[allow(async_fn_in_trait)]
pub trait Pause {
    async fn pause(&self);
}

/// Time between two looks at a flight, at the edge.
pub const COALESCE_POLL_MS: u64 = 2;
/// Looks at a flight before a waiter stops waiting and loads for itself.
pub const COALESCE_MAX_POLLS: u32 = 2_500;

/// A load in flight: its result once the leader has it, or the mark that the leader went away
/// (its future was dropped) first.
pub(crate) struct Flight<T> {
    result: RefCell<Option<T>>,
    abandoned: Cell<bool>,
}

/// How a wait on a [`Flight`] ended.
pub(crate) enum Waited<T> {
    /// The leader's result.
    Done(T),
    /// The leader went away without one.
    Abandoned,
    /// [`COALESCE_MAX_POLLS`] looks found nothing yet.
    TimedOut,
}

impl<T: Clone> Flight<T> {
    /// Looks at the flight, with a pause between looks, until it has a result, is abandoned or
    /// has been looked at [`COALESCE_MAX_POLLS`] times.
    pub(crate) async fn wait<P: Pause>(&self, pause: &P) -> Waited<T> {
        let mut polls = 0;
        loop {
            if let Some(result) = self.result.borrow().as_ref() {
                return Waited::Done(result.clone());
            }
            if self.abandoned.get() {
                return Waited::Abandoned;
            }
            if polls >= COALESCE_MAX_POLLS {
                return Waited::TimedOut;
            }
            pause.pause().await;
            polls += 1;
        }
    }
}

/// The leader's hold on its flight. [`Lead::land`] gives the waiters the result; dropped before
/// that, the flight is marked abandoned. Either way `release` then takes the flight out of
/// wherever waiters find it (it gets the flight, to check that the slot still holds this one).
pub(crate) struct Lead<T, R: FnMut(&Rc<Flight<T>>)> {
    flight: Rc<Flight<T>>,
    release: R,
    landed: bool,
}

impl<T, R: FnMut(&Rc<Flight<T>>)> Lead<T, R> {
    /// A new flight, led by the caller, which puts [`Lead::flight`] where waiters look.
    pub(crate) fn new(release: R) -> Self {
        let flight = Rc::new(Flight {
            result: RefCell::new(None),
            abandoned: Cell::new(false),
        });
        Self {
            flight,
            release,
            landed: false,
        }
    }

    /// The flight, for the waiters.
    pub(crate) fn flight(&self) -> Rc<Flight<T>> {
        self.flight.clone()
    }

    /// Hands the waiters `result`, and releases the flight (by dropping `self`: see `Drop`).
    pub(crate) fn land(mut self, result: T) {
        *self.flight.result.borrow_mut() = Some(result);
        self.landed = true;
    }
}

impl<T, R: FnMut(&Rc<Flight<T>>)> Drop for Lead<T, R> {
    fn drop(&mut self) {
        if !self.landed {
            self.flight.abandoned.set(true);
        }
        (self.release)(&self.flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Counts its pauses; each is ready at once.
    #[derive(Default)]
    struct Count(Cell<u32>);

    impl Pause for Count {
        async fn pause(&self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn ready<F: Future>(f: F) -> F::Output {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn a_landed_flight_gives_its_result_without_a_pause_and_is_released() {
        let released = Cell::new(0);
        let lead = Lead::new(|_: &Rc<Flight<u8>>| released.set(released.get() + 1));
        let flight = lead.flight();
        lead.land(7);
        assert_eq!(released.get(), 1);
        let pauses = Count::default();
        assert!(matches!(ready(flight.wait(&pauses)), Waited::Done(7)));
        assert_eq!(pauses.0.get(), 0);
    }

    #[test]
    fn a_dropped_leader_abandons_its_flight_and_still_releases_it() {
        let released = Cell::new(false);
        let lead = Lead::new(|_: &Rc<Flight<u8>>| released.set(true));
        let flight = lead.flight();
        drop(lead);
        assert!(released.get());
        assert!(matches!(
            ready(flight.wait(&Count::default())),
            Waited::Abandoned
        ));
    }

    #[test]
    fn a_waiter_gives_up_after_the_most_looks() {
        let lead = Lead::new(|_: &Rc<Flight<u8>>| {});
        let pauses = Count::default();
        assert!(matches!(
            ready(lead.flight().wait(&pauses)),
            Waited::TimedOut
        ));
        assert_eq!(pauses.0.get(), COALESCE_MAX_POLLS);
    }
}
