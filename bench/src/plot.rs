//! The SVG: latency percentile curves per target, one panel per workload.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Row;
use crate::targets::Target;

fn color(t: Target) -> RGBColor {
    match t {
        Target::Ringlb => RGBColor(214, 39, 40),
        Target::Haproxy => RGBColor(31, 119, 180),
        Target::Nginx => RGBColor(44, 160, 44),
        Target::Direct => RGBColor(127, 127, 127),
    }
}

/// Percentile p on the x axis as "nines": 50 → 0.3, 90 → 1, 99 → 2, 99.9 → 3.
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).log10()
}

fn label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    format!("p{}", (p * 100.0).round() / 100.0)
}

pub fn write(path: &Path, rows: &[Row], title: &str) -> Result<(), String> {
    let mut workloads: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| !r.percentiles_us.is_empty()) {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    if workloads.is_empty() {
        return Err("no latency percentiles to plot".into());
    }
    let panel_h = 320u32;
    let root =
        SVGBackend::new(path, (900, panel_h * workloads.len() as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((workloads.len(), 1));
    for (area, w) in panels.iter().zip(&workloads) {
        let rs: Vec<&Row> = rows
            .iter()
            .filter(|r| r.workload == *w && !r.percentiles_us.is_empty())
            .collect();
        let max = rs
            .iter()
            .flat_map(|r| r.percentiles_us.iter().map(|(_, v)| *v))
            .fold(1.0f64, f64::max);
        let min = rs
            .iter()
            .flat_map(|r| r.percentiles_us.iter().map(|(_, v)| *v))
            .fold(f64::MAX, f64::min)
            .max(1.0);
        let xmax = rs
            .iter()
            .flat_map(|r| r.percentiles_us.iter().map(|(p, _)| nines(*p)))
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{w}: latency by percentile"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.2f64..xmax + 0.1, (min * 0.8..max * 1.3).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| label(*x))
            .y_desc("µs")
            .draw()
            .map_err(|e| e.to_string())?;
        for r in rs {
            let c = color(r.target);
            let pts: Vec<(f64, f64)> = r
                .percentiles_us
                .iter()
                .map(|(p, v)| (nines(*p), v.max(1.0)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(r.target.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(PointSeries::of_element(pts, 3, c.filled(), &|p, s, st| {
                    Circle::new(p, s, st)
                }))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_round_trips_percentiles() {
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(label(nines(99.0)), "p99");
        assert_eq!(label(nines(50.0)), "p50");
    }
}
