// GraphiQL in headless Chromium against a live server: the page loads with nothing fetched from
// another host, a query runs with a Bearer token from the Headers tab, and a subscription shows
// the event a post makes.
//
//   node graphiql.mjs http://127.0.0.1:PORT /usr/bin/chromium
//
// Prints one JSON object with what was observed; any failed expectation exits non-zero.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { chromium } from "playwright-core";

const [base, executablePath] = process.argv.slice(2);
if (!base || !executablePath) {
  console.error("usage: node graphiql.mjs http://127.0.0.1:PORT /path/to/chromium");
  process.exit(2);
}
const suffix = randomBytes(3).toString("hex");
const WITHIN_MS = 20_000;

async function graphql(query, variables, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

async function signUp(handle) {
  const password = "graphiql-password-1";
  const created = await graphql(
    "mutation($i: SignUpInput!) { signUp(input: $i) { user { id } errors { code } } }",
    { i: { handle, email: `${handle}@example.com`, password } },
  );
  assert.deepEqual(created.signUp.errors, []);
  const logged = await graphql(
    "mutation($i: LogInInput!) { logIn(input: $i) { token errors { code } } }",
    { i: { login: handle, password } },
  );
  return { id: created.signUp.user.id, handle, token: logged.logIn.token };
}

const artist = await signUp(`giql_artist_${suffix}`);
const viewer = await signUp(`giql_viewer_${suffix}`);
await graphql("mutation($u: ID!) { follow(userId: $u) { errors { code } } }", { u: artist.id }, viewer.token);

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const observed = { foreign: [], pageErrors: [] };
const step = (what) => process.stderr.write(`graphiql: ${what}\n`);
try {
  const context = await browser.newContext();
  // Offline: a request to any other host is refused and recorded.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith("data:")) return route.continue();
    observed.foreign.push(url);
    return route.abort();
  });
  // What a developer types into the editors, kept where GraphiQL keeps them between visits.
  await context.addInitScript(
    ({ token }) => {
      localStorage.setItem("graphiql:query", "query Me { viewer { handle } }");
      localStorage.setItem("graphiql:headers", JSON.stringify({ Authorization: `Bearer ${token}` }));
    },
    { token: viewer.token },
  );
  step("browser started");
  const page = await context.newPage();
  page.on("pageerror", (error) => observed.pageErrors.push(String(error)));
  const response = await page.goto(`${base}/graphql`, { waitUntil: "load" });
  assert.equal(response.status(), 200);
  await page.waitForSelector(".graphiql-query-editor .CodeMirror", { timeout: WITHIN_MS });

  const resultText = () =>
    page.evaluate(() => {
      const result = document.querySelector(".result-window .CodeMirror");
      return result ? result.CodeMirror.getValue() : "";
    });
  const waitForResult = (needle) =>
    page.waitForFunction(
      (text) => {
        const result = document.querySelector(".result-window .CodeMirror");
        return result !== null && result.CodeMirror.getValue().includes(text);
      },
      needle,
      { timeout: WITHIN_MS },
    );

  step("page loaded");
  // A query with the Bearer token of the Headers tab.
  await page.click(".graphiql-execute-button");
  await waitForResult(viewer.handle);
  const query = JSON.parse(await resultText());
  assert.deepEqual(query, { data: { viewer: { handle: viewer.handle } } });

  // A subscription: the token goes into connection_init; a post by the followed artist shows.
  await page.evaluate(() => {
    const editor = document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror;
    editor.setValue("subscription Feed { homeFeed { kind post { text author { handle } } } }");
  });
  // GraphiQL takes the edit in after a short debounce (and then keeps it): run only after that.
  await page.waitForFunction(
    () => (localStorage.getItem("graphiql:query") ?? "").startsWith("subscription"),
    null,
    { timeout: WITHIN_MS },
  );
  const subscribed = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("GraphiQL sent no subscribe message")), WITHIN_MS);
    page.on("websocket", (socket) =>
      socket.on("framesent", ({ payload }) => {
        if (String(payload).includes('"subscribe"')) resolve();
      }),
    );
  });
  await page.click(".graphiql-execute-button");
  step("subscribing");
  await subscribed;
  step("subscribed");
  // The server starts the subscription a moment after the frame: post until one event shows.
  const text = `Seen in GraphiQL ${suffix}`;
  const shown = waitForResult(text);
  let posts = 0;
  for (let settled = false; !settled; ) {
    posts += 1;
    await graphql(
      "mutation($t: String!) { createPost(input: {text: $t}) { errors { code } } }",
      { t: text },
      artist.token,
    );
    settled = await Promise.race([
      shown.then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), 1000)),
    ]);
  }
  const event = JSON.parse(await resultText());
  assert.deepEqual(event, {
    data: { homeFeed: { kind: "ADDED", post: { text, author: { handle: artist.handle } } } },
  });
  assert.deepEqual(observed.foreign, []);
  assert.deepEqual(observed.pageErrors, []);
  console.log(JSON.stringify({ query: query.data, subscription: event.data, posts, ...observed }));
} finally {
  await browser.close();
}
