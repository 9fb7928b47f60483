// Follow-up page: baseline and follow-up side by side, crosshairs linked in world millimetres.
import { centreOn, getJson, openViewer } from './viewer.js';

async function main() {
  const hosts = Array.from(document.querySelectorAll('.viewer'));
  const viewers = await Promise.all(hosts.map((h) => openViewer(h.querySelector('canvas'), h.dataset.study)));
  if (viewers.length === 2) {
    viewers[0].nv.broadcastTo(viewers[1].nv, { '2d': true, '3d': true });
    viewers[1].nv.broadcastTo(viewers[0].nv, { '2d': true, '3d': true });
  }
  // Segment centres of the baseline (same atlas keys at follow-up).
  const centres = new Map();
  if (viewers.length) {
    for (const seg of await getJson(`/api/studies/${viewers[0].study}/segments`)) {
      if (seg.centre_mm) centres.set(seg.key, seg.centre_mm);
    }
  }
  document.querySelectorAll('#changes tbody tr[data-key]').forEach((row) => {
    row.addEventListener('click', () => {
      const mm = centres.get(row.dataset.key);
      if (!mm) return;
      document.querySelectorAll('#changes tr.selected').forEach((r) => r.classList.remove('selected'));
      row.classList.add('selected');
      viewers.forEach((v) => centreOn(v, mm));
    });
  });
  window.cnmriViewers = viewers;
  document.body.dataset.viewerReady = '1';
}

main().catch((error) => { document.body.dataset.viewerError = String(error.message); });
