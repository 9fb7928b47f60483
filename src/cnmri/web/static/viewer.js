// Shared NiiVue set-up for the study and compare pages. Everything comes from this server: the vendored
// NiiVue bundle, the NIfTI volumes and the label colormap (no CDN, no outside request).
import { NVImage, Niivue, SHOW_RENDER, SLICE_TYPE } from './vendor/niivue.js';

export const LAYOUTS = {
  multi: SLICE_TYPE.MULTIPLANAR,
  axial: SLICE_TYPE.AXIAL,
  coronal: SLICE_TYPE.CORONAL,
  sagittal: SLICE_TYPE.SAGITTAL,
  render: SLICE_TYPE.RENDER,
};

export const VOLUME_FILES = { post: 'post.nii.gz', pre: 'pre.nii.gz', enhancement: 'enhancement.nii.gz' };

export function volumeUrl(study, name) {
  return `/api/studies/${study}/volumes/${name === 'labels' ? 'nerves_dseg.nii.gz' : VOLUME_FILES[name]}`;
}

export async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// A viewer on `canvas` showing `background` of `study` with its nerve-segment label map on top.
export async function openViewer(canvas, study, background = 'post', opacity = 0.8) {
  const nv = new Niivue({
    backColor: [0, 0, 0, 1],
    crosshairColor: [1, 0.85, 0, 1],
    crosshairWidth: 1,
    show3Dcrosshair: true,
    isColorbar: false,
    dragAndDropEnabled: false,
    fontMinPx: 11,
    // No 3D tile in the 3-plane layout: it costs seconds on a machine without a GPU (the "3D" layout shows it).
    multiplanarShowRender: SHOW_RENDER.NEVER,
  });
  const marks = { start: performance.now() };
  await nv.attachToCanvas(canvas);
  marks.attached = performance.now();
  nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
  const colormap = await getJson(`/api/studies/${study}/colormap`);
  marks.colormap = performance.now();
  const viewer = { nv, study, colormap, background, opacity, abnormalOnly: false, marks };
  await loadBackground(viewer, background);
  marks.loaded = performance.now();
  return viewer;
}

export async function loadBackground(viewer, background) {
  const { nv, study } = viewer;
  const keepMm = nv.volumes.length ? crosshairMm(viewer) : null;
  const [image, labels] = await Promise.all([
    NVImage.loadFromUrl({ url: volumeUrl(study, background), name: VOLUME_FILES[background], colormap: 'gray' }),
    NVImage.loadFromUrl({ url: volumeUrl(study, 'labels'), name: 'nerves_dseg.nii.gz', opacity: viewer.opacity }),
  ]);
  // The label LUT is set before the label map is added, so that its texture is built once (each rebuild
  // costs seconds on a machine that renders WebGL in software).
  labels.colormapLabel = labelLut(viewer);
  nv.volumes = [];
  nv.addVolume(image);
  nv.addVolume(labels);
  viewer.background = background;
  if (keepMm) centreOn(viewer, keepMm);
}

// NiiVue's dense label lookup table {lut: RGBA per label value, min, max, labels}, from the server's
// sparse colormap {R, G, B, A, I, labels}: colour per nerve; abnormal segments opaque, normal translucent
// (hidden with "abnormal only").
export function labelLut(viewer) {
  const cm = viewer.colormap;
  const max = Math.max(...cm.I);
  const lut = new Uint8ClampedArray((max + 1) * 4);
  const labels = Array(max + 1).fill('');
  cm.I.forEach((index, n) => {
    const alpha = viewer.abnormalOnly && cm.A[n] < 255 ? 0 : cm.A[n];
    lut.set([cm.R[n], cm.G[n], cm.B[n], index === 0 ? 0 : alpha], index * 4);
    labels[index] = cm.labels[n];
  });
  return { lut, min: 0, max, labels };
}

export function applyColormap(viewer) {
  viewer.nv.volumes[1].colormapLabel = labelLut(viewer);
  viewer.nv.updateGLVolume();
}

export function setOpacity(viewer, value) {
  viewer.opacity = value;
  viewer.nv.setOpacity(1, value);
}

// Move the crosshair to a world position (RAS mm); all three planes then cut that point.
export function centreOn(viewer, mm) {
  const { nv } = viewer;
  nv.scene.crosshairPos = nv.mm2frac(mm);
  if (viewer.zoom > 1) zoomTo(viewer, mm, viewer.zoom);
  nv.drawScene();  // a crosshair move needs no texture rebuild
  nv.createOnLocationChange();
}

// Magnify the 2D views `zoom` times with `mm` in the middle of each tile. NiiVue keeps a point c fixed
// on screen when pan = (1 - zoom) * c (its own wheel-zoom rule), so a point maps to zoom * x + pan; the
// tile centre shows the middle of the volume at zoom 1, hence pan = middle - zoom * mm.
export function zoomTo(viewer, mm, zoom) {
  const { nv } = viewer;
  viewer.zoom = zoom;
  if (zoom <= 1) {
    nv.scene.pan2Dxyzmm = [0, 0, 0, 1];
  } else {
    const [lo, hi] = nv.sceneExtentsMinMax();
    const middle = [0, 1, 2].map((i) => (lo[i] + hi[i]) / 2);
    nv.scene.pan2Dxyzmm = [0, 1, 2].map((i) => middle[i] - zoom * mm[i]).concat([zoom]);
  }
  nv.drawScene();
}

export function crosshairMm(viewer) {
  const mm = viewer.nv.frac2mm(viewer.nv.scene.crosshairPos);
  return [mm[0], mm[1], mm[2]];
}
