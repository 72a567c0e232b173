import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Frame, type Page } from "playwright-core";

/** Debian's `chromium` package (installed by `.ci/run`); `CHROMIUM_PATH` names another binary. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Where screenshots go: a test artefact, not committed (see .gitignore). */
export const SCREENSHOT_DIR = join(import.meta.dirname, "..", "..", "test-artifacts", "screenshots");

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ["--no-sandbox"] });
}

/**
 * Opens an app page the way Bitrix24 does: a portal page holds an iframe, and a hidden form posts the
 * frame fields (AUTH_ID, member_id, PLACEMENT, …) into it. The outer page here is blank: the frame's
 * origin differs from it, as it does from the portal's.
 */
export async function openInFrame(
  page: Page,
  url: string,
  fields: URLSearchParams,
  size = { width: 960, height: 900 },
): Promise<Frame> {
  const inputs = [...fields]
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join("");
  await page.setContent(
    `<!doctype html><body style="margin:0;background:#eef2f4"><iframe name="app" style="border:0;width:${size.width}px;height:${size.height}px"></iframe>` +
      `<form id="f" method="post" target="app" action="${esc(url)}">${inputs}</form></body>`,
  );
  const loaded = page.waitForEvent("framenavigated", (f) => f.name() === "app" && f.url().startsWith(url));
  await page.evaluate('document.getElementById("f").submit()');
  const frame = await loaded;
  await frame.waitForLoadState("load");
  return frame;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
