// Study page: the viewer and the segment table, linked both ways.
// Row click → the crosshair goes to the segment's centre (world mm, from /api/.../segments).
// Click in the viewer → the row of the label under the crosshair is highlighted.
import { LAYOUTS, applyColormap, centreOn, crosshairMm, loadBackground, openViewer, setOpacity, zoomTo } from './viewer.js';

const host = document.getElementById('viewer');
const readout = document.getElementById('location');
const rows = Array.from(document.querySelectorAll('#segments tbody tr'));
const rowByLabel = new Map(rows.filter((r) => r.dataset.label).map((r) => [Number(r.dataset.label), r]));

function highlight(row, scroll) {
  rows.forEach((r) => r.classList.remove('selected'));
  if (!row) return;
  row.classList.add('selected');
  if (scroll) row.scrollIntoView({ block: 'nearest' });
}

function describe(data) {
  const mm = data.mm.slice(0, 3).map((v) => v.toFixed(1)).join(', ');
  const label = data.values.length > 1 ? Math.round(data.values[1].value) : 0;
  const row = rowByLabel.get(label);
  readout.textContent = `RAS ${mm} mm` + (row ? ` · ${row.dataset.key}` : '');
  return row;
}

async function main() {
  if (!host) return;
  const study = host.dataset.study;
  const background = host.dataset.volumes.split(',')[0];
  const viewer = await openViewer(document.getElementById('gl'), study, background);
  // Navigation start → volumes loaded and drawn (read by tests and benchmarks/bench_web.py).
  window.cnmriTimings = { firstImageMs: performance.now(), ...viewer.marks };
  viewer.nv.onLocationChange = (data) => {
    viewer.lastLocation = data;
    const row = describe(data);
    // Only a change made in the viewer moves the table; a row click already selected its row.
    if (!viewer.fromTable) highlight(row, true);
    viewer.fromTable = false;
  };
  window.cnmriTimings.handlerMs = performance.now();
  rows.forEach((row) => {
    if (!row.dataset.centre) return;
    const go = () => {
      highlight(row, false);
      viewer.fromTable = true;
      centreOn(viewer, row.dataset.centre.split(',').map(Number));
    };
    row.addEventListener('click', go);
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
  });
  document.getElementById('background').addEventListener('change', async (e) => {
    await loadBackground(viewer, e.target.value);
  });
  document.getElementById('layout').addEventListener('change', (e) => {
    viewer.nv.setSliceType(LAYOUTS[e.target.value]);
  });
  document.getElementById('zoom').addEventListener('change', (e) => {
    zoomTo(viewer, crosshairMm(viewer), Number(e.target.value));
  });
  viewer.zoom = Number(document.getElementById('zoom').value);
  document.getElementById('opacity').addEventListener('input', (e) => setOpacity(viewer, Number(e.target.value)));
  document.getElementById('abnormal-only').addEventListener('change', (e) => {
    viewer.abnormalOnly = e.target.checked;
    applyColormap(viewer);
  });
  // Start on the first abnormal segment, else the first segment with a centre.
  const first = rows.find((r) => r.classList.contains('abnormal') && r.dataset.centre) || rows.find((r) => r.dataset.centre);
  if (first) { highlight(first, true); viewer.fromTable = true; centreOn(viewer, first.dataset.centre.split(',').map(Number)); }
  window.cnmriViewer = { viewer, crosshairMm: () => crosshairMm(viewer), centreOn: (mm) => centreOn(viewer, mm) };
  window.cnmriTimings.readyMs = performance.now();
  document.body.dataset.viewerReady = '1';
}

main().catch((error) => {
  if (readout) readout.textContent = `viewer failed: ${error.message}`;
  document.body.dataset.viewerError = String(error.message);
});
