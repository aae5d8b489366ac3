//! The HTML report in a real browser: Debian's headless chromium renders the broken seed host's
//! report at desktop and phone width. The screenshots must not be blank, the console must stay
//! silent (no script error, no Content-Security-Policy violation, which any fetch would cause),
//! and the DOM must hold the drawn IOMMU groups. A canary page proves the console is watched.
//! Skipped, with a printed reason, only when /usr/bin/chromium is absent (.ci/run installs it).

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vfio_doctor::commands::{obtain_bundle, Origin};

const CHROMIUM: &str = "/usr/bin/chromium";

struct Run {
    stdout: String,
    stderr: String,
}

/// Run headless chromium on `page` with `extra` flags; killed after 120 s (never a hang).
fn chromium(page: &Path, profile: &Path, extra: &[String]) -> Run {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Run { stdout: out_reader.join().expect("stdout"), stderr: err_reader.join().expect("stderr") }
}

/// Console output of the page: chromium logs it as `INFO:CONSOLE` (CSP violations included);
/// an uncaught exception reads `Uncaught`.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught") || l.contains("Content Security Policy") || l.contains("Refused to"))
        .collect()
}

/// A screenshot that shows something: many distinct colours, and a real share of pixels that
/// are not the page background.
fn assert_not_blank(png_path: &Path, width: u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).expect("screenshot written")));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!(info.width, width, "screenshot width");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let luma: Vec<f64> = pixels.iter().map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64).collect();
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let variance = luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64;
    assert!(variance > 100.0, "{}: luminance variance {variance:.1}: the page looks blank", png_path.display());
    let mut colours: Vec<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "{}: only {} colours", png_path.display(), colours.len());
}

fn out_dir() -> PathBuf {
    // Kept after the test so a person can look at them.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let missing: Vec<&str> = [CHROMIUM].into_iter().filter(|c| !Path::new(c).exists()).collect();
    if !support::tools_present("html_report_renders_in_headless_chromium", &missing, "apt-get install chromium; .ci/run does") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let origin = Origin { root: Some(support::fixtures().join("hosts/seed-b550-bsod")), redact: true, ..Default::default() };
    let report = support::diagnose(&obtain_bundle(&origin).expect("bundle"));
    let page = tmp.path().join("report.html");
    std::fs::write(&page, vfio_doctor::report::html::render(&report)).expect("write report");

    // The canary: a page that fetches and runs a script must show up on the console, or the
    // console check below would prove nothing.
    let canary = tmp.path().join("canary.html");
    std::fs::write(
        &canary,
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">\
         <p>canary</p><img src=\"https://example.invalid/x.png\"><script>1</script>",
    )
    .expect("write canary");
    let run = chromium(&canary, &tmp.path().join("p0"), &["--dump-dom".into()]);
    assert!(
        console_lines(&run.stderr).iter().any(|l| l.contains("Content Security Policy")),
        "chromium did not log the canary's CSP violations; the console check would be blind:\n{}",
        run.stderr
    );

    let out = out_dir();
    for (name, width, height) in [("report-1280.png", 1280u32, 2000u32), ("report-390.png", 390, 2400)] {
        let shot = out.join(name);
        let _ = std::fs::remove_file(&shot);
        let run = chromium(
            &page,
            &tmp.path().join(format!("p{width}")),
            &[format!("--screenshot={}", shot.display()), format!("--window-size={width},{height}")],
        );
        assert!(shot.exists(), "no screenshot written:\n{}", run.stderr);
        assert_not_blank(&shot, width);
        let console = console_lines(&run.stderr);
        assert!(console.is_empty(), "console output while rendering the report:\n{}", console.join("\n"));
        println!("screenshot: {}", shot.display());
    }

    let run = chromium(&page, &tmp.path().join("pdom"), &["--dump-dom".into()]);
    let console = console_lines(&run.stderr);
    assert!(console.is_empty(), "console output while rendering the report:\n{}", console.join("\n"));
    let dom = run.stdout;
    assert!(dom.contains("bar-reservation-failure"), "finding missing from the DOM");
    assert!(dom.contains("id=\"group-16\"") && dom.contains("id=\"group-15\""), "group boxes missing from the DOM");
    assert!(dom.contains("GP106 [GeForce GTX 1060 3GB]"));
    assert!(!dom.contains("<script") && !dom.contains("<img"), "the DOM gained active content");
}
