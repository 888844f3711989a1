//! In-process implementation for standalone mode (one process, no etcd).

use crate::{
    CoordError, Coordinator, LeaderGuard, MemberGuard, MemberHandle, Members, Release, check_name,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Debug, Default)]
struct Election {
    /// Last term handed out.
    term: u64,
    /// Current holder: (term, value, lost sender).
    holder: Option<(u64, String, watch::Sender<bool>)>,
}

#[derive(Debug, Default)]
struct State {
    elections: HashMap<String, Election>,
    members: HashMap<String, watch::Sender<Members>>,
}

/// [`Coordinator`] inside one process: elections are won in turn (terms count up from 1),
/// members live as long as their guards.
#[derive(Debug, Clone, Default)]
pub struct LocalCoordinator {
    state: Arc<Mutex<State>>,
    released: Arc<Notify>,
}

impl LocalCoordinator {
    /// A fresh coordinator.
    pub fn new() -> Self {
        Self::default()
    }

    fn members_sender(&self, kind: &str) -> watch::Sender<Members> {
        let mut st = self.state.lock().expect("poisoned");
        st.members
            .entry(kind.to_string())
            .or_insert_with(|| watch::channel(Members::new()).0)
            .clone()
    }
}

#[derive(Debug)]
struct LocalRelease {
    coord: LocalCoordinator,
    name: String,
    term: u64,
}

impl LocalRelease {
    fn release(&self) {
        let mut st = self.coord.state.lock().expect("poisoned");
        if let Some(e) = st.elections.get_mut(&self.name)
            && e.holder.as_ref().is_some_and(|(t, _, _)| *t == self.term)
            && let Some((_, _, lost)) = e.holder.take()
        {
            let _ = lost.send(true);
        }
        drop(st);
        self.coord.released.notify_waiters();
    }
}

impl Release for LocalRelease {
    fn resign(self: Box<Self>) {
        self.release();
    }
    fn abandon(self: Box<Self>) {
        // In process there is no lease to run out: abandoning is resigning.
        self.release();
    }
}

#[derive(Debug)]
struct LocalMember {
    members: watch::Sender<Members>,
    id: String,
}

#[async_trait]
impl MemberHandle for LocalMember {
    async fn set_value(&self, value: &str) -> Result<(), CoordError> {
        self.members.send_modify(|m| {
            m.insert(self.id.clone(), value.to_string());
        });
        Ok(())
    }
    fn leave(self: Box<Self>) {
        self.members.send_modify(|m| {
            m.remove(&self.id);
        });
    }
    fn abandon(self: Box<Self>) {
        self.leave();
    }
}

#[async_trait]
impl Coordinator for LocalCoordinator {
    async fn campaign(&self, name: &str, value: &str) -> Result<LeaderGuard, CoordError> {
        check_name("election name", name)?;
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock().expect("poisoned");
                let e = st.elections.entry(name.to_string()).or_default();
                if e.holder.is_none() {
                    e.term += 1;
                    let term = e.term;
                    let (tx, rx) = watch::channel(false);
                    e.holder = Some((term, value.to_string(), tx));
                    return Ok(LeaderGuard::new(
                        term,
                        rx,
                        Box::new(LocalRelease {
                            coord: self.clone(),
                            name: name.to_string(),
                            term,
                        }),
                    ));
                }
            }
            notified.await;
        }
    }

    async fn leader(&self, name: &str) -> Result<Option<String>, CoordError> {
        let st = self.state.lock().expect("poisoned");
        Ok(st
            .elections
            .get(name)
            .and_then(|e| e.holder.as_ref().map(|(_, v, _)| v.clone())))
    }

    async fn register_member(
        &self,
        kind: &str,
        id: &str,
        value: &str,
        _ttl: Duration,
    ) -> Result<MemberGuard, CoordError> {
        check_name("member kind", kind)?;
        check_name("member id", id)?;
        let members = self.members_sender(kind);
        members.send_modify(|m| {
            m.insert(id.to_string(), value.to_string());
        });
        Ok(MemberGuard::new(Box::new(LocalMember {
            members,
            id: id.to_string(),
        })))
    }

    async fn watch_members(&self, kind: &str) -> Result<watch::Receiver<Members>, CoordError> {
        check_name("member kind", kind)?;
        Ok(self.members_sender(kind).subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_at_a_time_and_terms_increase() {
        let c = LocalCoordinator::new();
        let a = c.campaign("scheduler", "a").await.unwrap();
        assert_eq!(a.term, 1);
        assert_eq!(c.leader("scheduler").await.unwrap().as_deref(), Some("a"));
        let c2 = c.clone();
        let b = tokio::spawn(async move { c2.campaign("scheduler", "b").await.unwrap() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!b.is_finished(), "second candidate must wait");
        let mut lost = a.lost.clone();
        drop(a);
        assert!(*lost.wait_for(|l| *l).await.unwrap());
        let b = tokio::time::timeout(Duration::from_secs(2), b)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.term, 2);
        assert_eq!(c.leader("scheduler").await.unwrap().as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn members_join_change_and_leave() {
        let c = LocalCoordinator::new();
        let mut w = c.watch_members("fetcher").await.unwrap();
        let m1 = c
            .register_member("fetcher", "f1", "tip=5", Duration::from_secs(5))
            .await
            .unwrap();
        let _m2 = c
            .register_member("fetcher", "f2", "", Duration::from_secs(5))
            .await
            .unwrap();
        w.changed().await.unwrap();
        assert_eq!(w.borrow_and_update().len(), 2);
        m1.set_value("tip=9").await.unwrap();
        assert_eq!(w.borrow().get("f1").map(String::as_str), Some("tip=9"));
        drop(m1);
        assert_eq!(
            w.borrow().keys().cloned().collect::<Vec<_>>(),
            vec!["f2".to_string()]
        );
        assert!(
            c.register_member("fetcher", "a/b", "", Duration::from_secs(1))
                .await
                .is_err()
        );
    }
}
