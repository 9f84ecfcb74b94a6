//! A level-triggered epoll set with nanosecond timeouts and a wake-up from other
//! threads: exactly what the process backend's loop needs, at one system call per
//! round. (The `polling` crate, tried first, re-arms a timerfd and its notifier around
//! every wait — five calls a round, which at tens of thousands of rounds a second was
//! most of the harness's kernel time.)

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The key reported when [`Waker::wake`] was called.
pub const WAKE_KEY: u64 = u64::MAX;

/// An epoll instance and its wake-up eventfd.
pub struct Poller {
    epoll: OwnedFd,
    waker: std::sync::Arc<Waker>,
    /// Whether `epoll_pwait2` exists (Linux ≥ 5.11); otherwise millisecond timeouts.
    precise: AtomicBool,
}

/// Wakes a [`Poller`]'s wait from any thread (the SIGINT handler's).
pub struct Waker {
    eventfd: OwnedFd,
}

impl Waker {
    /// Make the poller's current or next wait return.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// What a descriptor is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Data to read, or its end.
    Read,
    /// Room to write.
    Write,
}

impl Poller {
    /// A new, empty poller.
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain system calls creating new descriptors that we then own.
        let epoll = unsafe { owned(libc::epoll_create1(libc::EPOLL_CLOEXEC))? };
        let eventfd = unsafe { owned(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))? };
        let poller = Poller {
            epoll,
            waker: std::sync::Arc::new(Waker { eventfd }),
            precise: AtomicBool::new(true),
        };
        poller.control(
            libc::EPOLL_CTL_ADD,
            poller.waker.eventfd.as_raw_fd(),
            Interest::Read,
            WAKE_KEY,
        )?;
        Ok(poller)
    }

    /// The handle other threads wake this poller with.
    pub fn waker(&self) -> std::sync::Arc<Waker> {
        std::sync::Arc::clone(&self.waker)
    }

    /// Watch `fd` for `interest`, reporting `key`. The caller removes it before
    /// closing it.
    pub fn add(&self, fd: RawFd, interest: Interest, key: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, interest, key)
    }

    /// Stop watching `fd`.
    pub fn delete(&self, fd: RawFd) {
        // SAFETY: EPOLL_CTL_DEL ignores the event argument on Linux ≥ 2.6.9.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    fn control(&self, op: i32, fd: RawFd, interest: Interest, key: u64) -> io::Result<()> {
        let events = match interest {
            Interest::Read => libc::EPOLLIN | libc::EPOLLRDHUP,
            Interest::Write => libc::EPOLLOUT,
        };
        let mut event = libc::epoll_event {
            events: events as u32,
            u64: key,
        };
        // SAFETY: epoll_ctl reads the event we pass.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wait up to `timeout` and append the keys of ready descriptors to `keys`
    /// (a wake-up is reported as [`WAKE_KEY`] once, and cleared).
    pub fn wait(&self, keys: &mut Vec<u64>, timeout: Duration) -> io::Result<()> {
        const CAPACITY: usize = 1024;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; CAPACITY];
        let count = self.epoll_wait(&mut events, timeout)?;
        for event in &events[..count] {
            let key = event.u64;
            if key == WAKE_KEY {
                let mut sink = 0u64;
                // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
                unsafe {
                    libc::read(
                        self.waker.eventfd.as_raw_fd(),
                        (&mut sink as *mut u64).cast(),
                        8,
                    )
                };
            }
            keys.push(key);
        }
        Ok(())
    }

    fn epoll_wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> io::Result<usize> {
        let fd = self.epoll.as_raw_fd();
        let max = events.len() as i32;
        if self.precise.load(Ordering::Relaxed) {
            let spec = libc::timespec {
                tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            // SAFETY: epoll_pwait2(2) fills at most `max` events and reads the timespec.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    fd,
                    events.as_mut_ptr(),
                    max,
                    &spec as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ENOSYS) {
                return Err(error);
            }
            self.precise.store(false, Ordering::Relaxed);
        }
        // Round up so a deadline is never woken for early and spun on.
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        // SAFETY: epoll_wait(2) fills at most `max` events.
        let n = unsafe { libc::epoll_wait(fd, events.as_mut_ptr(), max, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// # Safety
/// `fd` must be a new descriptor (or -1 with errno set) that nothing else owns.
unsafe fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from_raw_fd(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    #[test]
    fn reports_readable_pipes_wakes_and_times_out_precisely() {
        let poller = Poller::new().unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        poller.add(reader.as_raw_fd(), Interest::Read, 7).unwrap();
        let mut keys = Vec::new();
        let started = Instant::now();
        poller.wait(&mut keys, Duration::from_micros(1500)).unwrap();
        let waited = started.elapsed();
        assert!(keys.is_empty());
        assert!(waited >= Duration::from_micros(1500), "{waited:?}");
        writer.write_all(b"x").unwrap();
        poller.wait(&mut keys, Duration::from_secs(5)).unwrap();
        assert_eq!(keys, vec![7]);
        // Level-triggered: still readable until read.
        keys.clear();
        poller.wait(&mut keys, Duration::ZERO).unwrap();
        assert_eq!(keys, vec![7]);
        poller.delete(reader.as_raw_fd());
        keys.clear();
        let waker = poller.waker();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        poller.wait(&mut keys, Duration::from_secs(5)).unwrap();
        assert_eq!(keys, vec![WAKE_KEY]);
        keys.clear();
        poller.wait(&mut keys, Duration::ZERO).unwrap();
        assert!(keys.is_empty(), "the wake-up is cleared once reported");
    }
}
