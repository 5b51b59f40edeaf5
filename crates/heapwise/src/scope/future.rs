//! Futures charged to a scope: [`Instrumented`] (attribution) and [`Limited`]
//! (attribution plus cancellation).
//!
//! A task can move between worker threads at every poll, so the scope is
//! entered around each poll on whichever thread runs it, and left (its batch
//! charged) before the poll returns. Nothing else follows the task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::scope::cancel::Registration;
use crate::scope::limit::LimitExceeded;
use crate::scope::Scope;

/// A future charged to a scope on every poll; see [`Scope::instrument`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Instrumented<F> {
    scope: Scope,
    fut: F,
}

impl<F> Instrumented<F> {
    pub(crate) fn new(scope: Scope, fut: F) -> Instrumented<F> {
        Instrumented { scope, fut }
    }

    /// The scope the future is charged to.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `self`,
        // and `Instrumented` has no `Drop` impl that could move it.
        let this = unsafe { self.get_unchecked_mut() };
        let _guard = this.scope.enter();
        // SAFETY: see above; `this.fut` stays where it is.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

/// A future that is dropped once its scope exceeds a limit; see [`Scope::limit`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Limited<F> {
    scope: Scope,
    fut: Option<F>,
    reg: Registration,
}

impl<F> Limited<F> {
    pub(crate) fn new(scope: Scope, fut: F) -> Limited<F> {
        Limited {
            scope,
            fut: Some(fut),
            reg: Registration::new(),
        }
    }

    /// The scope the future runs in.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl<F: Future> Future for Limited<F> {
    type Output = Result<F::Output, LimitExceeded>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is structurally pinned: it is only dropped in place
        // (`Pin::set`), never moved; `scope` and `reg` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let mut fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        let _guard = this.scope.enter();
        if let Some(e) = this.scope.exceeded() {
            fut.set(None);
            this.reg.clear(&this.scope);
            return Poll::Ready(Err(e));
        }
        let Some(inner) = fut.as_mut().as_pin_mut() else {
            panic!("`Limited` polled after completion");
        };
        if let Poll::Ready(v) = inner.poll(cx) {
            fut.set(None);
            this.reg.clear(&this.scope);
            // A future that crossed a limit in the poll that completed it
            // ends as one that crossed it earlier would: its output is
            // dropped (inside the scope) and the crossing returned.
            if let Some(e) = this.scope.exceeded() {
                drop(v);
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(v));
        }
        let crossed = if this.scope.limited() {
            this.reg.poll(&this.scope, cx.waker())
        } else {
            None
        };
        match crossed {
            Some(e) => {
                fut.set(None);
                this.reg.clear(&this.scope);
                Poll::Ready(Err(e))
            }
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for Limited<F> {
    fn drop(&mut self) {
        self.reg.clear(&self.scope);
    }
}
