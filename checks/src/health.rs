//! HAProxy's rise/fall state machine for one server's health check.
//!
//! The health counter runs from 0 to `rise + fall - 1`. The server is UP while it is at
//! least `rise`. A failure takes one step down and, once below `rise`, drops straight to 0
//! (DOWN); a success takes one step up and, once at `rise`, jumps to the top (fully UP).
//! So a fully UP server goes DOWN after `fall` consecutive failures and a DOWN server comes
//! back after `rise` consecutive successes. In between the server is "going down" or
//! "going up", the transitional states in which `fastinter` applies.

use std::time::Duration;

/// Where a server stands on its way between DOWN and fully UP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    value: u32,
    rise: u32,
    fall: u32,
}

/// What one result did to the operational state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    WentUp,
    WentDown,
}

impl Health {
    /// HAProxy's default start (`init-state up`): UP, but the first failed check takes the
    /// server DOWN, so a server that is dead at startup leaves the rotation at once.
    pub fn starting(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Self {
            value: rise,
            rise,
            fall,
        }
    }

    pub fn is_up(&self) -> bool {
        self.value >= self.rise
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// Not at either end: a failure or a success has started to move it.
    pub fn in_transition(&self) -> bool {
        self.value != 0 && self.value != self.top()
    }

    /// Counts one check result.
    pub fn record(&mut self, passed: bool) -> Transition {
        let was_up = self.is_up();
        if passed {
            if self.value < self.top() {
                self.value += 1;
                if self.value >= self.rise {
                    self.value = self.top();
                }
            }
        } else if self.value > 0 {
            self.value -= 1;
            if self.value < self.rise {
                self.value = 0;
            }
        }
        match (was_up, self.is_up()) {
            (false, true) => Transition::WentUp,
            (true, false) => Transition::WentDown,
            _ => Transition::None,
        }
    }

    /// Forces the DOWN end (an agent said "down", or a fatal traffic error).
    pub fn force_down(&mut self) -> Transition {
        let was_up = self.is_up();
        self.value = 0;
        if was_up {
            Transition::WentDown
        } else {
            Transition::None
        }
    }

    /// Forces the fully UP end (`set server … health up|stopping`).
    pub fn force_up(&mut self) {
        self.value = self.top();
    }

    /// `on-error sudden-death`: a server more than one failure above DOWN is put exactly
    /// one failure away from it, before the failure the error counts as.
    pub fn sudden_death(&mut self) {
        if self.value > self.rise {
            self.value = self.rise + 1;
        }
    }

    /// `on-error mark-down`: the last UP step, so that the failure the errors count as
    /// takes the server DOWN whatever its state was.
    pub fn last_up_step(&mut self) {
        self.value = self.rise;
    }

    /// The "N/M UP" or "N/M DOWN" progress HAProxy writes in check logs: successes gathered
    /// towards `rise` while DOWN, checks left before falling while UP.
    pub fn progress(&self) -> String {
        if self.is_up() {
            format!("{}/{} UP", self.value + 1 - self.rise, self.fall)
        } else {
            format!("{}/{} DOWN", self.value, self.rise)
        }
    }

    /// The raw counter (0..=rise+fall-1), for the stats page.
    pub fn value(&self) -> u32 {
        self.value
    }

    pub fn rise(&self) -> u32 {
        self.rise
    }

    pub fn fall(&self) -> u32 {
        self.fall
    }
}

/// The intervals of one server's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub inter: Duration,
    pub fastinter: Duration,
    pub downinter: Duration,
}

impl Intervals {
    /// `downinter` while DOWN, `fastinter` while moving between states, `inter` otherwise.
    pub fn next(&self, health: &Health) -> Duration {
        self.next_forced(health, false)
    }

    /// [`Self::next`], with `fast` (traffic errors were just observed) asking for
    /// `fastinter` even from the fully UP state; `downinter` still wins while DOWN.
    pub fn next_forced(&self, health: &Health, fast: bool) -> Duration {
        if health.value == 0 {
            self.downinter
        } else if fast || health.in_transition() {
            self.fastinter
        } else {
            self.inter
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_after_start_takes_server_down() {
        let mut h = Health::starting(2, 3);
        assert!(h.is_up());
        assert_eq!(h.record(false), Transition::WentDown);
    }

    #[test]
    fn fully_up_server_needs_fall_failures_to_go_down() {
        let mut h = Health::starting(2, 3);
        assert_eq!(h.record(true), Transition::None);
        assert_eq!(h.progress(), "3/3 UP");
        assert_eq!(h.record(false), Transition::None);
        assert_eq!(h.progress(), "2/3 UP");
        assert_eq!(h.record(false), Transition::None);
        assert_eq!(h.record(false), Transition::WentDown);
        assert_eq!(h.progress(), "0/2 DOWN");
    }

    #[test]
    fn down_server_needs_rise_successes_and_a_failure_resets_the_climb() {
        let mut h = Health::starting(3, 2);
        h.force_down();
        assert_eq!(h.record(true), Transition::None);
        assert_eq!(h.record(true), Transition::None);
        assert_eq!(h.progress(), "2/3 DOWN");
        assert_eq!(h.record(false), Transition::None);
        assert_eq!(
            h.progress(),
            "0/3 DOWN",
            "one failure below rise drops to 0"
        );
        for _ in 0..2 {
            assert_eq!(h.record(true), Transition::None);
        }
        assert_eq!(h.record(true), Transition::WentUp);
        assert!(!h.in_transition(), "fully up after rise successes");
    }

    #[test]
    fn sudden_death_leaves_one_failure_and_mark_down_none() {
        let mut h = Health::starting(2, 4);
        h.record(true);
        h.sudden_death();
        assert_eq!(h.record(false), Transition::None);
        assert_eq!(h.progress(), "1/4 UP", "one more failure and it is DOWN");
        assert_eq!(h.record(false), Transition::WentDown);
        let mut h = Health::starting(2, 4);
        h.record(true);
        h.last_up_step();
        assert_eq!(h.record(false), Transition::WentDown);
    }

    #[test]
    fn forced_fastinter_applies_while_up_but_not_while_down() {
        let iv = Intervals {
            inter: Duration::from_millis(100),
            fastinter: Duration::from_millis(10),
            downinter: Duration::from_millis(1000),
        };
        let mut h = Health::starting(2, 3);
        h.record(true);
        assert_eq!(iv.next_forced(&h, true), iv.fastinter);
        h.force_down();
        assert_eq!(iv.next_forced(&h, true), iv.downinter);
    }

    #[test]
    fn intervals_follow_the_state() {
        let iv = Intervals {
            inter: Duration::from_millis(100),
            fastinter: Duration::from_millis(10),
            downinter: Duration::from_millis(1000),
        };
        let mut h = Health::starting(2, 3);
        assert_eq!(iv.next(&h), iv.fastinter, "starting is transitional");
        h.record(true);
        assert_eq!(iv.next(&h), iv.inter);
        h.record(false);
        assert_eq!(iv.next(&h), iv.fastinter);
        h.force_down();
        assert_eq!(iv.next(&h), iv.downinter);
    }
}
