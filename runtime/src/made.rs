//! What a phase made, undone unless the whole operation succeeds: each phase of `create`
//! (and of `restore`) returns its resource in a [`Made`], and a failure in any later phase
//! drops the ones before it, last made first (Rust drops locals in reverse order). Success
//! [`keep`](Made::keep)s them all.

use std::ops::{Deref, DerefMut};

/// How a resource is undone: killing a process, removing a directory, detaching a mount.
pub(crate) trait Undo {
    fn undo(self);
}

/// A resource that is undone when dropped, unless kept.
pub(crate) struct Made<T: Undo>(Option<T>);

impl<T: Undo> Made<T> {
    pub(crate) fn new(value: T) -> Made<T> {
        Made(Some(value))
    }

    /// The operation succeeded: the resource stays.
    pub(crate) fn keep(mut self) -> T {
        match self.0.take() {
            Some(v) => v,
            None => unreachable!("a Made is emptied only by keep or drop, which consume it"),
        }
    }
}

impl<T: Undo> Deref for Made<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Some(v) => v,
            None => unreachable!("a Made is emptied only by keep or drop, which consume it"),
        }
    }
}

impl<T: Undo> DerefMut for Made<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            Some(v) => v,
            None => unreachable!("a Made is emptied only by keep or drop, which consume it"),
        }
    }
}

impl<T: Undo> Drop for Made<T> {
    fn drop(&mut self) {
        if let Some(v) = self.0.take() {
            v.undo();
        }
    }
}

/// A child process (a container's init): SIGKILLed and reaped.
pub(crate) struct Child(pub nix::unistd::Pid);

impl Undo for Child {
    fn undo(self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}
