// End-to-end test of the example SPA in a real browser (Debian's
// chromium, driven by playwright-core; no browser is downloaded) against
// `idpgate --dev`: the Auth0 emulator's login page, repositories and
// events, paging one identity with fetchMore, the deferred calendar
// arriving after the repositories (the Google emulator slowed down), the
// re-consent button, and that no IdP token ever reaches the browser.
//
//   cd examples/spa && npm ci && npm run e2e
//
// CHROMIUM_PATH overrides /usr/bin/chromium. Screenshots go to
// e2e/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const spaDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = path.resolve(spaDir, "../..");
const artifacts = path.join(spaDir, "e2e", "artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
// Each calendar read of a Google identity waits this long (twice for
// Ada, whose token is refreshed first): the repositories must show well
// before.
const GOOGLE_LATENCY = "1500ms";
const WAIT = 30_000;

const children = [];
let tmp, context, page, origin, auth0URL, secrets;
const received = []; // every response the page received: url, headers, body
const consoleLog = []; // the page's console, shown when a step fails
const teed = []; // bodies the page's fetch read: url, body
const pending = new Set(); // responses whose body is being read

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// start runs a process we own; its output goes to a log in tmp, printed
// when the test fails.
function start(name, cmd, args, opts) {
  const log = fs.openSync(path.join(tmp, `${name}.log`), "w");
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", log, log] });
  child.name = name;
  children.push(child);
  return child;
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "idpgate-e2e-"));
  fs.mkdirSync(artifacts, { recursive: true });

  const bin = path.join(tmp, "idpgate");
  execFileSync("go", ["build", "-o", bin, "."], { cwd: repoRoot, stdio: "inherit" });
  execFileSync("npm", ["run", "-s", "manifest"], { cwd: spaDir, stdio: "inherit" });

  const spaPort = await freePort();
  origin = `http://127.0.0.1:${spaPort}`;
  const devDir = path.join(tmp, "dev");
  // The gateway runs with the app's manifest as its trusted documents:
  // the app's own operations must be all it needs.
  start("gateway", bin, ["--dev", "--dev-files", devDir, "--dev-google-latency", GOOGLE_LATENCY], {
    cwd: repoRoot,
    env: {
      ...process.env,
      LISTEN_ADDR: "127.0.0.1:0",
      ALLOWED_ORIGINS: origin,
      // E2E_APQ=1 runs the gateway without it: the same ids then go
      // through automatic persisted queries.
      ...(process.env.E2E_APQ === "1" ? {} : { TRUSTED_DOCUMENTS: path.join(spaDir, "persisted-query-manifest.json") }),
    },
  });
  const envFile = path.join(devDir, "spa.env");
  await waitFor("the gateway's spa.env", () => fs.existsSync(envFile) && fs.existsSync(path.join(devDir, "secrets.json")));
  const spaEnv = Object.fromEntries(
    fs.readFileSync(envFile, "utf8").trim().split("\n").map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
  auth0URL = spaEnv.VITE_AUTH0_DOMAIN;
  secrets = JSON.parse(fs.readFileSync(path.join(devDir, "secrets.json"), "utf8"));
  assert.ok(secrets.marker && secrets.tokens.length >= 10, "secrets.json lists the seeded tokens");

  const vite = path.join(spaDir, "node_modules", "vite", "bin", "vite.js");
  execFileSync(process.execPath, [vite, "build", "--logLevel", "warn"], { cwd: spaDir, env: { ...process.env, ...spaEnv }, stdio: "inherit" });
  start("preview", process.execPath, [vite, "preview", "--host", "127.0.0.1", "--port", String(spaPort), "--strictPort"], { cwd: spaDir });
  await waitFor("the SPA preview server", async () => (await fetch(origin)).ok);
  await waitFor("the gateway", async () => (await fetch(new URL("/healthz", spaEnv.VITE_GRAPHQL_URL))).ok);

  const profile = fs.mkdtempSync(path.join(tmp, "profile-")); // empty user-data-dir
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT);
  page.on("console", (m) => consoleLog.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLog.push(`pageerror: ${e.message}`));
  // Every response the page receives: headers at once, the body when it
  // has finished. Apollo Client aborts a multipart/mixed fetch once it has
  // read the last part, and Chromium then gives no body for it, so the
  // page's fetch is also teed (below) and what it read is checked too. A
  // body read neither way fails the test: the leak check never passes by
  // not looking.
  page.on("response", (resp) => {
    const entry = { url: resp.url(), status: resp.status(), type: resp.request().resourceType(), headers: "", body: "", unread: false };
    received.push(entry);
    const done = (async () => {
      entry.headers = JSON.stringify(await resp.allHeaders().catch(() => ({})));
      try {
        entry.body = (await resp.body()).toString("utf8");
      } catch {
        entry.unread = resp.status() < 300 || resp.status() >= 400;
      }
    })();
    pending.add(done);
    done.finally(() => pending.delete(done));
  });
  await context.exposeBinding("__e2eFetched", (_source, url, body) => teed.push({ url, body }));
  await context.addInitScript(() => {
    const fetch0 = window.fetch;
    window.fetch = async (...args) => {
      const res = await fetch0(...args);
      const reader = res.clone().body?.getReader();
      if (reader) {
        (async () => {
          const dec = new TextDecoder();
          let text = "";
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              text += dec.decode(value, { stream: true });
            }
          } catch {
            // aborted after the last part: report what was read
          }
          window.__e2eFetched(res.url, text);
        })();
      }
      return res;
    };
  });
});

after(async () => {
  await context?.close().catch(() => {});
  await Promise.all(children.map(stop));
  if (process.exitCode && tmp) {
    for (const c of children) {
      const log = path.join(tmp, `${c.name}.log`);
      if (fs.existsSync(log)) console.error(`--- ${c.name} log (last 4 KiB)\n${fs.readFileSync(log, "utf8").slice(-4096)}`);
    }
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// The app's section of one identity, by its Auth0 connection.
const identity = (connection) => page.locator(`[data-testid="identity-${connection}"]`);

async function signIn(userID) {
  await page.goto(origin + "/");
  await page.getByTestId("login").click();
  await page.waitForURL((u) => u.href.startsWith(auth0URL + "/authorize"));
  await page.locator(`button[data-user="${userID}"]`).click();
  await page.waitForURL((u) => u.href.startsWith(origin));
}

// browserState is everything the page keeps: both storages, every
// IndexedDB database's records and the cookies of every origin.
async function browserState() {
  const inPage = await page.evaluate(async () => {
    const dump = (s) => JSON.stringify(Object.fromEntries(Object.keys(s).map((k) => [k, s.getItem(k)])));
    const idb = [];
    for (const { name } of (await indexedDB.databases?.()) ?? []) {
      const db = await new Promise((res, rej) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      for (const store of db.objectStoreNames) {
        const all = await new Promise((res) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => res(r.result);
          r.onerror = () => res([]);
        });
        idb.push(JSON.stringify({ name, store, all }));
      }
      db.close();
    }
    return { localStorage: dump(localStorage), sessionStorage: dump(sessionStorage), indexedDB: idb.join("\n") };
  });
  return { ...inPage, cookies: JSON.stringify(await context.cookies()) };
}

function assertNoIdPToken(where, text) {
  const leaked = [secrets.marker, ...secrets.tokens].find((t) => text.includes(t));
  assert.equal(leaked, undefined, `${where} holds an IdP token or seeded secret`);
}

// step runs one part of the story; after a failure the later parts are
// skipped (they depend on it), and the page's URL and console are shown.
let failed = false;
function step(t, name, fn) {
  return t.test(name, { skip: failed && "an earlier step failed" }, async () => {
    try {
      await fn();
    } catch (e) {
      failed = true;
      const state = await page?.locator("main").getAttribute("data-state").catch(() => "");
      console.error(`page at ${page?.url()} (data-state ${state})\n${consoleLog.slice(-20).join("\n")}`);
      await page?.screenshot({ path: path.join(artifacts, "failure.png"), fullPage: true }).catch(() => {});
      throw e;
    }
  });
}

test("the example SPA against idpgate --dev", async (t) => {
  await step(t, "signs in as a demo user through the emulated login page", async () => {
    await signIn("auth0|ada");
    await identity("github").getByTestId("repo").first().waitFor();
    await assert.doesNotReject(page.getByRole("heading", { name: "Hello Ada Lovelace" }).waitFor());
  });

  await step(t, "the deferred calendar arrives after the repositories", async () => {
    // The repositories are on the page while Google (slowed down) is
    // still being read: the calendar shows its loading state.
    await identity("gitlab").getByTestId("repo").first().waitFor();
    assert.equal(await identity("google-oauth2").getByTestId("calendar-loading").count(), 1, "Google's calendar is still loading when the repositories show");
    assert.equal(await identity("google-oauth2").getByTestId("event").count(), 0);
    await identity("google-oauth2").getByTestId("event").first().waitFor();
    await identity("windowslive").getByTestId("event").first().waitFor();
    assert.equal(await page.getByTestId("calendar-loading").count(), 0, "every calendar arrived");
    assert.equal(await page.getByTestId("identity-error").count(), 0, "Ada's identities all answer");
    await waitFor("the dashboard's multipart/mixed response", () => received.some((r) => r.headers.includes("multipart/mixed")));
  });

  await step(t, "pages GitHub with more, through me.identity(id)", async () => {
    const repos = identity("github").getByTestId("repo");
    assert.equal(await repos.count(), 5);
    const before = received.length;
    await identity("github").getByTestId("more").click();
    await waitFor("10 GitHub repositories", async () => (await repos.count()) === 10);
    const names = await repos.allTextContents();
    assert.equal(new Set(names).size, 10, "no repository twice");
    assert.equal(await identity("gitlab").getByTestId("repo").count(), 5, "GitLab's list is untouched");
    await waitFor("the page's responses to be read", () => pending.size === 0);
    const paged = received.slice(before).filter((r) => r.url.endsWith("/graphql") && r.body.includes('"identity"'));
    assert.equal(paged.length, 1, "one MoreRepos request");
    await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
  });

  await step(t, "Ada's session holds no IdP token", async () => {
    const s = await browserState();
    for (const [where, text] of Object.entries(s)) assertNoIdPToken(where, text);
  });

  await step(t, "a revoked consent becomes a working 'sign in again' button", async () => {
    await page.getByTestId("logout").click();
    await page.getByTestId("login").waitFor();
    await signIn("google-oauth2|100000000000000001936");
    const err = identity("google-oauth2").locator('[data-testid="identity-error"][data-code="IDP_REAUTH_REQUIRED"]');
    await err.waitFor();
    const button = identity("google-oauth2").getByTestId("sign-in-again");
    assert.equal((await button.textContent()).trim(), "Sign in with google-oauth2 again");
    await identity("github").getByTestId("repo").first().waitFor(); // the other identity is unaffected
    await page.screenshot({ path: path.join(artifacts, "reconsent.png"), fullPage: true });

    await button.click();
    await page.waitForURL((u) => u.href.startsWith(auth0URL + "/authorize"));
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("connection"), "google-oauth2");
    assert.equal(url.searchParams.get("prompt"), "consent");
    await page.getByText("asks you to grant access again").waitFor();
    await page.locator('button[data-user="google-oauth2|100000000000000001936"]').click();
    await page.waitForURL((u) => u.href.startsWith(origin));
    await identity("google-oauth2").getByTestId("event").first().waitFor();
    assert.equal(await page.getByTestId("identity-error").count(), 0, "signing in again ended the error");
  });

  await step(t, "no IdP token in storage, cookies or any response", async () => {
    const s = await browserState();
    for (const [where, text] of Object.entries(s)) assertNoIdPToken(where, text);
    await waitFor("every response body to be read", () => pending.size === 0);
    for (const r of received.filter((r) => r.unread)) {
      assert.ok(teed.some((f) => f.url === r.url && f.body.length > 0), `the body of ${r.url} was read`);
    }
    const graphql = [...received, ...teed].filter((r) => r.url.endsWith("/graphql"));
    assert.ok(graphql.some((r) => r.body.includes("Ada Lovelace")), "the GraphQL responses were captured");
    assert.ok(
      teed.some((r) => r.url.endsWith("/graphql") && r.body.includes("--") && r.body.includes('"incremental"')),
      "the multipart responses were captured",
    );
    assert.ok(received.some((r) => r.url.includes("/oauth/token") && r.body.includes("access_token")), "the token responses were captured");
    for (const r of teed) assertNoIdPToken(`response ${r.url}`, r.body);
    for (const r of received) assertNoIdPToken(`response ${r.url}`, r.headers + r.body);
  });
});
