//! `ipcbench report` on a fixed result file (tests/data/result-v1.json: uds and shm, every
//! pattern, 64 B and 4 KiB, from a real run), a real load sweep (tests/data/load-sweep.json) and
//! a real subscriber sweep (tests/data/fan-out.json), its charts read back from their SVG, and in
//! headless Chromium where it is installed.

mod common;

use assert_cmd::Command;
use common::Scratch;
use predicates::prelude::*;
use serde_json::Value;

const FIXTURE: &str = "tests/data/result-v1.json";
/// round-trip and one-way latency against size, throughput against size, 4 percentile spectra
/// (2 latency patterns x 2 sizes), 8 histograms (2 transports x 2 latency patterns x 2 sizes).
const CHARTS: usize = 3 + 4 + 8;

fn ipcbench() -> Command {
    Command::cargo_bin("ipcbench").unwrap()
}

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
}

fn svgs(html: &str) -> Vec<&str> {
    html.split("<svg").skip(1).map(|rest| &rest[..rest.find("</svg>").expect("every svg closes")]).collect()
}

/// A real load sweep (uds round-trip 64 B at 1k, 5k and 20k messages/s; its knee at 5k/s).
fn load_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/load-sweep.json")
}

/// A real subscriber sweep: shm and uds fan-out at 64 B to 1, 2 and 4 subscribers, written by
/// `ipcbench run -t shm,uds -p fan-out --subscribers 1,2,4 -s 64 -n 2000`. Its charts: latency
/// against subscribers, one percentile spectrum and 6 histograms.
fn fan_out_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fan-out.json")
}
const FAN_OUT_CHARTS: usize = 1 + 1 + 6;

/// The load-sweep fixture with its knee moved to its highest rate, its last point: the label
/// of a knee at the plot's right edge.
fn edge_knee_sweep(s: &Scratch) -> std::path::PathBuf {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(load_fixture()).unwrap()).unwrap();
    v["load_curves"][0]["knee_per_s"] = 20_000.into();
    let edge = s.path("edge.json");
    std::fs::write(&edge, v.to_string()).unwrap();
    edge
}

/// `ipcbench report FILES --out r.html` in `s`, returning the page.
fn report(s: &Scratch, files: &[&std::path::Path]) -> String {
    let out = s.path("r.html");
    ipcbench().arg("report").args(files).arg("--out").arg(&out).assert().success();
    std::fs::read_to_string(&out).unwrap()
}

/// One element of a chart's SVG (plotters writes one per line): its tag, attributes and text,
/// and whether it belongs to the legend (`<g class="legend">`).
#[derive(Debug)]
struct El {
    tag: String,
    attrs: Vec<(String, String)>,
    text: String,
    legend: bool,
}

impl El {
    fn get(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str) -> f64 {
        self.get(name).unwrap_or_else(|| panic!("{name} on {self:?}")).parse().unwrap()
    }

    /// The points of a polyline, or a line's two ends.
    fn points(&self) -> Vec<(f64, f64)> {
        match self.tag.as_str() {
            "polyline" => self.get("points").unwrap().split_whitespace().map(pair).collect(),
            "line" => vec![(self.num("x1"), self.num("y1")), (self.num("x2"), self.num("y2"))],
            "circle" => vec![(self.num("cx"), self.num("cy"))],
            _ => Vec::new(),
        }
    }

    /// The text's box, its width estimated at 0.62 em a character (wider than the average
    /// sans-serif letter): (left, top, right, bottom).
    fn text_box(&self) -> (f64, f64, f64, f64) {
        let size = self.num("font-size");
        let width = self.text.chars().count() as f64 * 0.62 * size;
        let (x, y) = (self.num("x"), self.num("y"));
        let left = match self.get("text-anchor") {
            Some("end") => x - width,
            Some("middle") => x - width / 2.0,
            _ => x,
        };
        let top = match self.get("dy") {
            Some("0.76em") => y,
            Some("-0.5ex") => y - size,
            _ => y - size / 2.0,
        };
        (left, top, left + width, top + size)
    }
}

fn pair(p: &str) -> (f64, f64) {
    let (x, y) = p.split_once(',').unwrap();
    (x.parse().unwrap(), y.parse().unwrap())
}

/// The elements of one chart's SVG, in order.
fn elements(svg: &str) -> Vec<El> {
    let mut out = Vec::new();
    let mut legend = false;
    let mut rest = svg;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let end = rest.find('>').unwrap();
        let (tag, body) = (&rest[..end], &rest[end + 1..]);
        rest = body;
        if tag.starts_with("/g") {
            legend = false;
            continue;
        }
        if tag.starts_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
        let mut attrs = Vec::new();
        for part in tag.split('"').collect::<Vec<_>>().chunks(2) {
            if let [k, v] = part {
                attrs.push((
                    k.trim().trim_end_matches('=').rsplit(' ').next().unwrap().to_string(),
                    v.to_string(),
                ));
            }
        }
        if name == "g" && tag.contains("class=\"legend\"") {
            legend = true;
        }
        let text = if name == "text" {
            body[..body.find("</text>").unwrap()].trim().to_string()
        } else {
            String::new()
        };
        out.push(El { tag: name, attrs, text, legend });
    }
    out
}

#[test]
fn the_report_is_one_self_contained_page_with_every_chart_labelled() {
    let s = Scratch::new();
    let out = s.path("report.html");
    ipcbench().arg("report").arg(fixture()).arg("--out").arg(&out).assert().success();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for tag in ["html", "head", "body", "table", "figure"] {
        assert_eq!(
            html.matches(&format!("<{tag}")).count(),
            html.matches(&format!("</{tag}>")).count(),
            "<{tag}> balanced"
        );
    }
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no network fetches");
    let charts = svgs(&html);
    assert_eq!(charts.len(), CHARTS);
    // Every chart carries both axis titles of its kind (titles alone would not do: they say
    // "latency" too).
    for svg in &charts {
        let axes: &[&str] = if svg.contains("latency by percentile") {
            &["latency (log scale)", "percentile (log scale of 1/(1-q))"]
        } else if svg.contains("histogram:") {
            &["\nlatency\n", "\nmessages\n"]
        } else if svg.contains("throughput (bytes/s) against message size") {
            &["message size (log scale)", "bandwidth (log scale)"]
        } else {
            &["message size (log scale)", "latency (log scale)"]
        };
        for axis in axes {
            assert!(svg.contains(axis), "axis {axis:?} missing in a chart: {}", &svg[..svg.len().min(300)]);
        }
    }
    let size_charts: Vec<_> = charts.iter().filter(|s| s.contains("message size (log scale)")).collect();
    assert_eq!(size_charts.len(), 3);
    assert!(
        size_charts.iter().all(|s| s.contains("uds") && s.contains("shm")),
        "legends name the transports"
    );
    let spectra: Vec<_> = charts.iter().filter(|s| s.contains("latency by percentile")).collect();
    assert_eq!(spectra.len(), 4);
    // The nines axis: its ticks are percentiles, the tail gets as much room as the body.
    for tick in ["\n0%\n", "\n90%\n", "\n99%\n", "\n99.9%\n"] {
        assert!(spectra.iter().all(|s| s.contains(tick)), "tick {tick}");
    }
    // Ticks in human units, never raw ones like "1000.0 µs" or "10000 B".
    for svg in &charts {
        assert!(
            !svg.contains(".0 µs\n") && !svg.contains("000 B\n") && !svg.contains("000 ns\n"),
            "raw tick units"
        );
    }
    // Titles are drawn once, in the chart: no caption repeats them.
    assert!(!html.contains("<figcaption"));
    // The environment and the exact command line are shown.
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    assert!(html.contains(fixture["environment"]["kernel"].as_str().unwrap()));
    assert!(html.contains("--pin 0,1"), "the options used");
}

#[test]
fn svg_dir_gets_one_file_per_chart() {
    let s = Scratch::new();
    let dir = s.path("svg");
    ipcbench()
        .arg("report")
        .arg(fixture())
        .arg("--out")
        .arg(s.path("r.html"))
        .arg("--svg")
        .arg(&dir)
        .assert()
        .success();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), CHARTS);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.starts_with("<svg"), "{}", f.display());
    }
    assert!(dir.join("round-trip-latency-vs-size.svg").exists());
    assert!(dir.join("percentiles-round-trip-64.svg").exists());
}

#[test]
fn several_files_are_overlaid_and_compared() {
    let s = Scratch::new();
    let a = s.path("before.json");
    let b = s.path("after.json");
    std::fs::copy(fixture(), &a).unwrap();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    for r in v["runs"].as_array_mut().unwrap() {
        if let Some(p50) = r["latency_ns"]["p50"].as_u64() {
            r["latency_ns"]["p50"] = (p50 * 2).into();
        }
    }
    std::fs::write(&b, v.to_string()).unwrap();
    let out = s.path("r.html");
    ipcbench().arg("report").arg(&a).arg(&b).arg("--out").arg(&out).assert().success();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("Relative changes against before.json"));
    // One repetition a side: the change is shown in the shared wording, but no interval bounds
    // it; nothing is gated in a report, so there is no verdict.
    assert!(html.contains("slower by 2.0x") && html.contains("too few values"), "{html}");
    assert!(html.contains("ratio of the medians"), "the statistic is named");
    assert!(!html.contains("inconclusive") && !html.contains("worse +"));
    let size_chart = svgs(&html).into_iter().find(|s| s.contains("round-trip p50")).unwrap();
    assert!(size_chart.contains("uds p50 · before.json") && size_chart.contains("uds p50 · after.json"));
}

#[test]
fn bad_inputs_get_a_clear_error() {
    let s = Scratch::new();
    let out = s.path("r.html");
    ipcbench()
        .arg("report")
        .arg(s.path("missing.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.json"));
    std::fs::write(s.path("other.json"), r#"{"name": "not a result"}"#).unwrap();
    ipcbench()
        .arg("report")
        .arg(s.path("other.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an ipcbench result"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    v["schema_version"] = 99.into();
    std::fs::write(s.path("future.json"), v.to_string()).unwrap();
    ipcbench()
        .arg("report")
        .arg(s.path("future.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("schema version 99"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    for r in v["runs"].as_array_mut().unwrap() {
        r["histogram_v2"] = Value::Null;
    }
    std::fs::write(s.path("old.json"), v.to_string()).unwrap();
    ipcbench()
        .arg("report")
        .arg(s.path("old.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no latency histogram"));
    ipcbench()
        .arg("report")
        .arg(fixture())
        .args(["--out", "/proc/report.html"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/proc/report.html"));
    ipcbench().arg("report").assert().code(2);
}

/// Measures every chart as laid out by the browser: appended to a copy of the report (the
/// report itself has no scripts), it writes one line per chart into the DOM: its box, how many
/// drawn lines it has, how many of its texts stick out of its box or the page, and its title;
/// and how wide the page's content is against its window.
const LAYOUT_PROBE: &str = r#"<pre id="probe"></pre><script>
const lines = [];
for (const svg of document.querySelectorAll("figure > svg")) {
  const box = svg.getBoundingClientRect();
  let outside = 0;
  for (const t of svg.querySelectorAll("text")) {
    const r = t.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1
        || r.right > document.documentElement.clientWidth) outside++;
  }
  const drawn = svg.querySelectorAll("polyline, path, rect, circle").length;
  lines.push(`chart w=${Math.round(box.width)} h=${Math.round(box.height)} drawn=${drawn} outside=${outside} right=${Math.round(box.right)} page=${document.documentElement.clientWidth} title=${svg.parentElement.getAttribute("aria-label")}`);
}
const page = document.documentElement;
lines.push(`page scroll=${page.scrollWidth} client=${page.clientWidth}`);
document.getElementById("probe").textContent = lines.join(String.fromCharCode(10));
</script>"#;

/// Renders the report in headless Chromium: every chart is laid out with a real size, has
/// something drawn, and no label sticks out of its chart or the page; the page is no wider
/// than its window; a screenshot of the page is mostly not blank. CI installs Chromium (.ci/run); elsewhere the test says it skipped,
/// and under CI=true a missing Chromium is a failure.
#[test]
fn the_report_renders_in_headless_chromium_every_chart_present_drawn_and_unclipped() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium for this test");
        eprintln!("skipped: /usr/bin/chromium is not installed");
        return;
    }
    let s = Scratch::new();
    let out = s.path("report.html");
    // With the load sweep (its chart, legend and knee label) and the subscriber sweep (its
    // chart against subscribers), a page of three files.
    ipcbench()
        .arg("report")
        .arg(fixture())
        .arg(edge_knee_sweep(&s))
        .arg(fan_out_fixture())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let probed = s.path("probed.html");
    let html = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&probed, html.replace("</body>", &format!("{LAYOUT_PROBE}\n</body>"))).unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,2000",
    ];
    let profile = format!("--user-data-dir={}", s.path("profile").display());
    let dom = std::process::Command::new(chromium)
        .args(flags)
        .arg(&profile)
        .args(["--dump-dom", &format!("file://{}", probed.display())])
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<h1>ipcbench report</h1>"));
    let charts: Vec<&str> =
        dom.lines().filter(|l| l.starts_with("chart ") || l.contains(">chart ")).collect();
    assert_eq!(charts.len(), CHARTS + 1 + FAN_OUT_CHARTS, "every chart is laid out: {dom:.2000}");
    assert!(
        charts.iter().any(|l| l.contains("fan-out latency against subscribers")),
        "the chart against subscribers is laid out: {charts:?}"
    );
    let field = |line: &str, name: &str| -> i64 {
        let at =
            line.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} in {line}")) + name.len() + 1;
        line[at..].split(|c: char| !c.is_ascii_digit() && c != '-').next().unwrap().parse().unwrap()
    };
    for line in charts {
        assert!(field(line, "w") >= 600 && field(line, "h") >= 250, "a chart of real size: {line}");
        assert!(field(line, "drawn") >= 10, "something is drawn: {line}");
        assert_eq!(field(line, "outside"), 0, "no label outside its chart or the page: {line}");
        assert!(field(line, "right") <= field(line, "page"), "the chart fits the page: {line}");
    }
    // Nothing (a table cell of JSON, say) makes the page scroll sideways.
    let page = dom.lines().find(|l| l.starts_with("page ")).expect("the page's widths");
    assert!(field(page, "scroll") <= field(page, "client"), "the page fits its window: {page}");
    let png = s.path("shot.png");
    let shot = std::process::Command::new(chromium)
        .args(flags)
        .arg(&profile)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", out.display()))
        .output()
        .unwrap();
    assert!(shot.status.success());
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1000, 2000));
    let px = info.line_size / info.width as usize;
    let ink = buf[..info.buffer_size()].chunks(px).filter(|p| p[..3].iter().any(|&c| c < 200)).count();
    let share = ink as f64 / (info.width * info.height) as f64;
    assert!(share > 0.01, "the screenshot is not blank: {:.3}% ink", share * 100.0);
}

/// Pixel positions of a chart's grid lines (drawn at its ticks): (x of the vertical ones, y of
/// the horizontal ones).
fn grid(els: &[El]) -> (Vec<f64>, Vec<f64>) {
    let lines: Vec<&El> =
        els.iter().filter(|e| e.tag == "line" && e.get("opacity") == Some("0.12")).collect();
    let xs = lines.iter().filter(|e| e.num("x1") == e.num("x2")).map(|e| e.num("x1")).collect();
    let ys = lines.iter().filter(|e| e.num("y1") == e.num("y2")).map(|e| e.num("y1")).collect();
    (xs, ys)
}

/// What a chart plots: its markers and coloured lines, not its axes, grid or legend.
fn plotted(els: &[El]) -> impl Iterator<Item = &El> {
    els.iter().filter(|e| {
        !e.legend && (e.tag == "circle" || (e.tag == "polyline" && e.get("stroke") != Some("#000000")))
    })
}

fn span(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)))
}

/// Before, an axis was padded past the data but ticked only inside the padding, so the
/// fixture's lowest round-trip p50 (shm, 180 ns) sat below its lowest tick (200 ns) and the
/// percentile spectra ran past their last percentile tick.
#[test]
fn every_plotted_point_lies_between_the_outermost_ticks_of_both_axes() {
    let s = Scratch::new();
    let mut checked = 0;
    for file in [fixture(), load_fixture()] {
        let html = report(&s, &[&file]);
        // Histograms have linear axes ticked by plotters, bars from the axis up.
        for svg in svgs(&html).into_iter().filter(|s| !s.contains("histogram:")) {
            let els = elements(svg);
            let (xs, ys) = grid(&els);
            let ((left, right), (top, bottom)) = (span(&xs), span(&ys));
            assert!(xs.len() >= 2 && ys.len() >= 2, "ticks on both axes: {xs:?} {ys:?}");
            for e in plotted(&els) {
                for (x, y) in e.points() {
                    assert!(
                        (left - 1.0..=right + 1.0).contains(&x) && (top - 1.0..=bottom + 1.0).contains(&y),
                        "({x}, {y}) beyond the ticks x {left}..{right}, y {top}..{bottom}: {e:?} in {}",
                        &svg[..svg.len().min(400)]
                    );
                }
            }
            checked += 1;
        }
    }
    // 3 charts against size and 4 spectra from the fixture, the load chart from the sweep.
    assert_eq!(checked, 8);
}

/// The box of a chart's legend (its swatches and estimated labels): (left, top, right, bottom).
fn legend_box(els: &[El]) -> Option<(f64, f64, f64, f64)> {
    let mut b: Option<(f64, f64, f64, f64)> = None;
    let mut grow = |(l, t, r, btm): (f64, f64, f64, f64)| {
        b = Some(b.map_or((l, t, r, btm), |o| (o.0.min(l), o.1.min(t), o.2.max(r), o.3.max(btm))));
    };
    for e in els.iter().filter(|e| e.legend) {
        if e.tag == "text" {
            grow(e.text_box());
        }
        for (x, y) in e.points() {
            grow((x - 3.0, y - 3.0, x + 3.0, y + 3.0));
        }
    }
    b
}

/// The charts of the fixture and of the load sweep that plot series (not the histograms).
fn series_charts(s: &Scratch) -> Vec<String> {
    let mut out = Vec::new();
    for file in [fixture(), load_fixture()] {
        let html = report(s, &[&file]);
        out.extend(svgs(&html).into_iter().filter(|s| !s.contains("histogram:")).map(str::to_string));
    }
    out
}

/// Before, the legend was a box in the plot's upper left corner, over the 64 B p99 points of
/// the charts against size and the start of every percentile curve.
#[test]
fn every_legend_sits_below_its_plot_and_covers_no_plotted_point() {
    let s = Scratch::new();
    let charts = series_charts(&s);
    assert_eq!(charts.len(), 8);
    for svg in &charts {
        let els = elements(svg);
        let (l, t, r, b) = legend_box(&els).unwrap_or_else(|| panic!("a legend: {}", &svg[..300]));
        let height: f64 = svg.split("height=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(l >= 0.0 && r <= 760.0 && b <= height, "the legend ({l}, {t}, {r}, {b}) fits its chart");
        for e in plotted(&els) {
            for (x, y) in e.points() {
                assert!(y < t, "({x}, {y}) at or below the legend's top {t}: {e:?}");
            }
        }
        // Every series is named: 4 (p50 and p99 of uds and shm) against size, 2 in a spectrum
        // (uds and shm), 3 in the load chart (p50, p99 and p99.9 of uds).
        let names = els.iter().filter(|e| e.legend && e.tag == "text").count();
        assert!([2, 3, 4].contains(&names), "{names} legend entries");
    }
}

/// Before, a p99 swatch was a 1-pixel solid line (the plotted p99 is a 2-pixel dashed line)
/// and read as a pale p50; the load chart named only its p99 lines.
#[test]
fn each_legend_swatch_is_drawn_the_way_its_series_is_plotted() {
    let s = Scratch::new();
    let mut dashed_swatches = 0;
    for svg in series_charts(&s) {
        let els = elements(&svg);
        let lines: Vec<&El> = plotted(&els).filter(|e| e.tag == "polyline").collect();
        let length = |e: &El| {
            let p = e.points();
            p.windows(2).map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1)).sum::<f64>()
        };
        let legend: Vec<&El> = els.iter().filter(|e| e.legend).collect();
        for (i, text) in legend.iter().enumerate().filter(|(_, e)| e.tag == "text") {
            let swatch =
                legend[..i].iter().rev().find(|e| e.tag == "line").expect("a swatch before its label");
            let key = |e: &El| {
                (
                    e.get("stroke").map(str::to_string),
                    e.get("stroke-width").map(str::to_string),
                    e.num("opacity"),
                )
            };
            let same: Vec<&&El> = lines.iter().filter(|e| key(e) == key(swatch)).collect();
            let dash = swatch.get("stroke-dasharray");
            let label = &text.text;
            if label.ends_with(" p99") && !svg.contains("against load")
                || label.ends_with(" p50") && svg.contains("against load")
            {
                assert_eq!(dash, Some("6 4"), "{label} is plotted dashed");
            }
            match dash {
                // Dashes of 6 pixels, as plotters draws a 6-on 4-off line.
                Some(_) => {
                    dashed_swatches += 1;
                    assert!(
                        same.iter().filter(|e| (length(e) - 6.0).abs() < 0.6).count() >= 3,
                        "{label}: dashes plotted"
                    );
                }
                None => assert!(
                    same.iter().any(|e| length(e) > 7.0),
                    "{label}: a solid line plotted like {swatch:?}"
                ),
            }
            let marker = legend[..i].iter().rev().take_while(|e| e.tag != "text").any(|e| e.tag == "circle");
            if marker {
                assert!(
                    plotted(&els).any(|e| e.tag == "circle" && e.get("fill") == swatch.get("stroke")),
                    "{label}"
                );
            }
        }
    }
    // p99 of uds and shm in the two latency charts against size, p50 in the load chart.
    assert_eq!(dashed_swatches, 5);
}

/// Before, a knee's label started right of its ring, so a knee at a sweep's highest rate (its
/// last point, at the plot's right edge) had its label run off the chart.
#[test]
fn a_knee_label_at_the_right_edge_stays_inside_the_chart() {
    let s = Scratch::new();
    let html = report(&s, &[&edge_knee_sweep(&s)]);
    let svg = svgs(&html).into_iter().find(|s| s.contains("against load")).expect("the load chart");
    let els = elements(svg);
    let knee = els.iter().find(|e| e.tag == "text" && e.text.starts_with("knee ")).expect("a knee label");
    assert_eq!(knee.text, "knee 19k/s", "the achieved rate");
    let (left, top, right, bottom) = knee.text_box();
    assert!(left >= 0.0 && right <= 760.0, "the label {left}..{right} is inside the chart's 760 pixels");
    // The plotting area: the grid lines span it.
    let lines: Vec<&El> =
        els.iter().filter(|e| e.tag == "line" && e.get("opacity") == Some("0.12")).collect();
    let across = lines.iter().find(|e| e.num("y1") == e.num("y2")).unwrap();
    let down = lines.iter().find(|e| e.num("x1") == e.num("x2")).unwrap();
    let (x0, x1) = (across.num("x1").min(across.num("x2")), across.num("x1").max(across.num("x2")));
    let (y0, y1) = (down.num("y1").min(down.num("y2")), down.num("y1").max(down.num("y2")));
    assert!(
        left >= x0 && right <= x1 && top >= y0 && bottom <= y1,
        "the label ({left}, {top}, {right}, {bottom}) is inside the plot ({x0}, {y0}, {x1}, {y1})"
    );
}

/// The text of the table cell right after the header cell `th` (tags stripped, one string per
/// line the cell breaks into at its `<br>`s).
fn cell_lines(html: &str, th: &str) -> Vec<String> {
    let at = html.find(&format!("<th>{th}</th><td>")).unwrap_or_else(|| panic!("a {th} row")) + th.len() + 13;
    let cell = &html[at..at + html[at..].find("</td>").unwrap()];
    cell.split("<br>").map(|l| l.trim().to_string()).collect()
}

/// Before, the machine fingerprint was its raw JSON, one unbreakable line of about 300
/// characters: wider than the page.
#[test]
fn the_fingerprint_reads_as_key_value_lines_that_fit_the_page() {
    let s = Scratch::new();
    let html = report(&s, &[&load_fixture()]);
    let lines = cell_lines(&html, "initiator.fingerprint");
    assert_eq!(lines.len(), 10, "one line per setting: {lines:?}");
    for want in ["clocksource: tsc", "cpu_governor: unknown", "smt_active: false", "cgroup_version: 1"] {
        assert!(lines.iter().any(|l| l == want), "{want} in {lines:?}");
    }
    for l in &lines {
        assert!(!l.contains(['{', '}']) && !l.contains("&quot;"), "no JSON: {l}");
        assert!(l.chars().count() <= 60, "a short line: {l}");
    }
    assert_eq!(cell_lines(&html, "initiator.allowed_cpus"), ["0, 1"], "a list wraps at its commas");
    assert!(
        html.contains("td { overflow-wrap: anywhere; }"),
        "a long value breaks rather than widen the page"
    );
}

/// Every table of the page has a data row.
fn assert_no_empty_table(html: &str) {
    for table in html.split("<table>").skip(1) {
        let table = &table[..table.find("</table>").unwrap()];
        assert!(table.contains("<td>"), "an empty table: {table}");
    }
}

/// Before, the page opened with "Relative changes against result-v1.json", an empty table
/// and a paragraph per configuration of either file before the first chart.
#[test]
fn files_that_share_no_configuration_say_so_in_one_sentence_and_list_the_rest_after_the_charts() {
    let s = Scratch::new();
    let html = report(&s, &[&fixture(), &load_fixture()]);
    assert!(!html.contains("Relative changes"));
    let said = html
        .find("<p>result-v1.json and load-sweep.json share no configuration: nothing to compare.</p>")
        .expect("one sentence says so");
    assert!(said < html.find("<h2>Charts</h2>").unwrap());
    assert_no_empty_table(&html);
    // 12 configurations of the fixture (2 transports x 3 patterns x 2 sizes), 3 rates of the
    // sweep: collapsed after the last chart.
    let last_chart = html.rfind("</figure>").unwrap();
    let details = html.find("<details>").expect("the lists are collapsed");
    assert!(details > last_chart && html.find("only in").unwrap() > details);
    assert!(html.contains(
        "<summary>Configurations in one file only (12 in result-v1.json, 3 in load-sweep.json)</summary>"
    ));
    assert_eq!(html.matches("<li>only in ").count(), 15);
    assert!(!html.contains("<p>only in"));
}

/// Before, each configuration in one file only was a paragraph of its own after the table.
#[test]
fn files_that_share_some_configurations_compare_them_first_and_collapse_the_rest() {
    let s = Scratch::new();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    v["runs"].as_array_mut().unwrap().retain(|r| r["transport"] == "uds");
    let uds = s.path("uds.json");
    std::fs::write(&uds, v.to_string()).unwrap();
    let html = report(&s, &[&fixture(), &uds]);
    let section = html.find("<h2>Relative changes against result-v1.json</h2>").expect("the comparison");
    assert!(section < html.find("<h2>Charts</h2>").unwrap(), "the comparison comes first");
    assert_no_empty_table(&html);
    let table_end = html[section..].find("</table>").unwrap() + section;
    assert!(html[table_end..].starts_with(
        "</table>\n<details>\n<summary>Configurations in one file only (6 in result-v1.json)</summary>"
    ));
    assert_eq!(html.matches("<li>only in result-v1.json: shm ").count(), 6);
    assert!(!html.contains("<p>only in") && !html.contains("share no configuration"));
}
