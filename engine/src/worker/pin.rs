//! Which CPUs each worker runs on: `cpu-map` resolution and pinning the calling thread.

use ringlb_config::model::{CpuMap, IdSet};

/// The ids a set names, between `first` and `last` inclusive for the open forms.
fn ids(set: &IdSet, first: u32, last: u32) -> Vec<u32> {
    match set {
        IdSet::All => (first..=last).collect(),
        IdSet::Odd => (first..=last).filter(|i| i % 2 == 1).collect(),
        IdSet::Even => (first..=last).filter(|i| i % 2 == 0).collect(),
        IdSet::Ranges(r) => r.iter().flat_map(|&(a, b)| a..=b).collect(),
    }
}

/// The CPUs worker `thread` (1-based) may run on.
///
/// The last `cpu-map` line naming the thread wins, as in HAProxy. `auto:` maps the n-th
/// thread of the set to the n-th CPU of the set; otherwise the thread gets the whole CPU set.
/// Without a matching line, worker *i* takes the *i*-th CPU the process may use (wrapping).
pub fn cpus_for_thread(
    maps: &[CpuMap],
    thread: u32,
    nbthread: u32,
    allowed: &[usize],
) -> Vec<usize> {
    let max_cpu = allowed.iter().copied().max().unwrap_or(0) as u32;
    let mut chosen = None;
    for map in maps {
        // `cpu-map 2/1-4 …`: HAProxy 2.6 ignores process ids above 1 (there is one process).
        if map
            .process
            .as_ref()
            .is_some_and(|p| !ids(p, 1, 1).contains(&1))
        {
            continue;
        }
        let threads = ids(&map.threads, 1, nbthread.max(1));
        let Some(pos) = threads.iter().position(|&t| t == thread) else {
            continue;
        };
        let cpus: Vec<usize> = ids(&map.cpus, 0, max_cpu)
            .into_iter()
            .map(|c| c as usize)
            .collect();
        if cpus.is_empty() {
            continue;
        }
        chosen = Some(if map.auto {
            vec![cpus[pos % cpus.len()]]
        } else {
            cpus
        });
    }
    chosen.unwrap_or_else(|| match allowed {
        [] => Vec::new(),
        _ => vec![allowed[(thread as usize - 1) % allowed.len()]],
    })
}

/// The CPUs the calling process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// Pins the calling thread to `cpus`. One CPU goes through `core_affinity`; a set through
/// `sched_setaffinity`.
pub fn pin_current(cpus: &[usize]) -> bool {
    match cpus {
        [] => false,
        [one] => core_affinity::set_for_current(core_affinity::CoreId { id: *one }),
        many => {
            // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against its size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in many {
                    libc::CPU_SET(c, &mut set);
                }
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
            }
        }
    }
}

/// The CPUs the calling thread is allowed to run on, read back from the kernel.
pub fn current_affinity() -> Vec<usize> {
    // SAFETY: as above; the set is filled by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(auto: bool, threads: IdSet, cpus: IdSet) -> CpuMap {
        CpuMap {
            auto,
            process: None,
            threads,
            cpus,
        }
    }

    #[test]
    fn without_cpu_map_workers_spread_over_allowed_cpus() {
        let allowed = [2, 3];
        assert_eq!(cpus_for_thread(&[], 1, 3, &allowed), vec![2]);
        assert_eq!(cpus_for_thread(&[], 2, 3, &allowed), vec![3]);
        assert_eq!(cpus_for_thread(&[], 3, 3, &allowed), vec![2]);
    }

    #[test]
    fn single_thread_line_pins_that_thread() {
        // cpu-map 1 0
        let maps = [map(
            false,
            IdSet::Ranges(vec![(1, 1)]),
            IdSet::Ranges(vec![(0, 0)]),
        )];
        assert_eq!(cpus_for_thread(&maps, 1, 2, &[0, 1]), vec![0]);
        assert_eq!(
            cpus_for_thread(&maps, 2, 2, &[0, 1]),
            vec![1],
            "unmapped thread keeps the default"
        );
    }

    #[test]
    fn auto_maps_threads_one_to_one() {
        // cpu-map auto:1/1-4 0-3
        let maps = [map(
            true,
            IdSet::Ranges(vec![(1, 4)]),
            IdSet::Ranges(vec![(0, 3)]),
        )];
        for t in 1..=4 {
            assert_eq!(
                cpus_for_thread(&maps, t, 4, &[0, 1, 2, 3]),
                vec![t as usize - 1]
            );
        }
    }

    #[test]
    fn all_threads_share_a_cpu_set_without_auto() {
        // cpu-map 1/all 0-1
        let maps = [map(false, IdSet::All, IdSet::Ranges(vec![(0, 1)]))];
        assert_eq!(cpus_for_thread(&maps, 3, 4, &[0, 1, 2, 3]), vec![0, 1]);
    }

    #[test]
    fn a_line_for_another_process_maps_nothing() {
        // cpu-map 2/1 3, then cpu-map 1/2 2: HAProxy 2.6 ignores processes above 1.
        let other = CpuMap {
            process: Some(IdSet::Ranges(vec![(2, 2)])),
            ..map(
                false,
                IdSet::Ranges(vec![(1, 1)]),
                IdSet::Ranges(vec![(3, 3)]),
            )
        };
        let ours = CpuMap {
            process: Some(IdSet::Ranges(vec![(1, 1)])),
            ..map(
                false,
                IdSet::Ranges(vec![(2, 2)]),
                IdSet::Ranges(vec![(2, 2)]),
            )
        };
        let maps = [other, ours];
        assert_eq!(cpus_for_thread(&maps, 1, 2, &[0, 1, 2, 3]), vec![0]);
        assert_eq!(cpus_for_thread(&maps, 2, 2, &[0, 1, 2, 3]), vec![2]);
    }

    #[test]
    fn later_lines_override_earlier_ones() {
        let maps = [
            map(false, IdSet::All, IdSet::Ranges(vec![(0, 1)])),
            map(
                false,
                IdSet::Ranges(vec![(2, 2)]),
                IdSet::Ranges(vec![(3, 3)]),
            ),
        ];
        assert_eq!(cpus_for_thread(&maps, 2, 2, &[0, 1, 2, 3]), vec![3]);
        assert_eq!(cpus_for_thread(&maps, 1, 2, &[0, 1, 2, 3]), vec![0, 1]);
    }
}
