// Apollo Client against a live server, as a frontend uses it: automatic persisted queries
// (PersistedQueryLink), subscriptions with GraphQLWsLink (graphql-ws), and multipart uploads with
// apollo-upload-client and the CSRF preflight header. Then urql, for a query and a subscription.
//
//   node apollo.mjs http://127.0.0.1:PORT path/to/image.jpg
//
// Prints one JSON object with what was observed; any failed expectation exits non-zero.
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import assert from "node:assert/strict";

import { ApolloClient, ApolloLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from "@urql/core";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [base, imagePath] = process.argv.slice(2);
if (!base || !imagePath) {
  console.error("usage: node apollo.mjs http://127.0.0.1:PORT image.jpg");
  process.exit(2);
}
const httpUrl = `${base}/graphql`;
const wsUrl = httpUrl.replace(/^http/, "ws");
const suffix = randomBytes(3).toString("hex");
const observed = { requests: [] };
const WITHIN_MS = 20_000;

// Every HTTP request the links make, to check what went over the wire.
async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  const body = typeof init?.body === "string" ? JSON.parse(init.body) : null;
  observed.requests.push({
    method: init?.method ?? "GET",
    multipart: init?.body instanceof FormData,
    preflight: new Headers(init?.headers).get("apollo-require-preflight"),
    hashOnly: body !== null && body.query === undefined && !!body.extensions?.persistedQuery,
    status: response.status,
  });
  return response;
}

function sha256(text) {
  return createHash("sha256").update(text).digest("hex");
}

function wsClient(token) {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 0,
  });
}

function apolloFor(token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const http = ApolloLink.from([
    new PersistedQueryLink({ sha256 }),
    new UploadHttpLink({
      uri: httpUrl,
      fetch: recordingFetch,
      // a multipart request without one of the preflight headers is refused (CSRF)
      headers: { ...headers, "Apollo-Require-Preflight": "true" },
    }),
  ]);
  const ws = token ? wsClient(token) : null;
  const link = ws
    ? ApolloLink.split(
        ({ query }) =>
          query.definitions.some(
            (d) => d.kind === "OperationDefinition" && d.operation === "subscription",
          ),
        new GraphQLWsLink(ws),
        http,
      )
    : http;
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), ws };
}

// The next `count` results of a subscription, or a timeout naming what did not arrive.
function nextResults(observable, count, what) {
  return new Promise((resolve, reject) => {
    const results = [];
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what} (${results.length}/${count})`)),
      WITHIN_MS,
    );
    const subscription = observable.subscribe({
      next(result) {
        if (result.error) {
          clearTimeout(timer);
          reject(result.error);
          return;
        }
        results.push(result.data);
        if (results.length === count) {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(results);
        }
      },
      error(error) {
        clearTimeout(timer);
        reject(error);
      },
    });
    observed.started = (observed.started ?? 0) + 1;
  });
}

const SIGN_UP = gql`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) { user { id handle } errors { code message } }
  }
`;
const LOG_IN = gql`
  mutation LogIn($input: LogInInput!) {
    logIn(input: $input) { token errors { code } }
  }
`;
const VIEWER = gql`
  query Viewer { viewer { id handle } }
`;
const FOLLOW = gql`
  mutation Follow($id: ID!) { follow(userId: $id) { errors { code } } }
`;
const CREATE_ARTWORK = gql`
  mutation CreateArtwork($input: CreateArtworkInput!) {
    createArtwork(input: $input) {
      artwork { id title images { width height url(size: MEDIUM, format: JPEG) } }
      errors { code message }
    }
  }
`;
const CREATE_POST = gql`
  mutation CreatePost($input: CreatePostInput!) {
    createPost(input: $input) { post { id } errors { code message } }
  }
`;
const LIKE = gql`
  mutation Like($id: ID!) { likePost(postId: $id) { errors { code } } }
`;
const HOME_FEED = gql`
  subscription HomeFeed {
    homeFeed {
      kind
      post { id text author { handle } artworks { title images { url(size: MEDIUM, format: JPEG) } } }
    }
  }
`;
const NOTIFICATIONS = gql`
  subscription Notifications {
    notifications { kind actor { handle } post { id } }
  }
`;

async function signUp(anonymous, handle) {
  const password = "client-library-password";
  const { data } = await anonymous.mutate({
    mutation: SIGN_UP,
    variables: { input: { handle, email: `${handle}@example.com`, password } },
  });
  assert.deepEqual(data.signUp.errors, []);
  const login = await anonymous.mutate({
    mutation: LOG_IN,
    variables: { input: { login: handle, password } },
  });
  assert.deepEqual(login.data.logIn.errors, []);
  return { id: data.signUp.user.id, handle, token: login.data.logIn.token };
}

// Uploads go through this one function, so a change in how uploads complete (a background
// step, say) changes one place.
async function uploadArtwork(client, title, file) {
  const { data } = await client.mutate({
    mutation: CREATE_ARTWORK,
    variables: { input: { title, images: [{ file, altText: title }] } },
  });
  assert.deepEqual(data.createArtwork.errors, []);
  return data.createArtwork.artwork;
}

async function download(url) {
  const response = await fetch(new URL(url, base));
  assert.equal(response.status, 200, `GET ${url}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { contentType: response.headers.get("content-type"), bytes: bytes.length };
}

const anonymous = apolloFor(null).client;
const artist = await signUp(anonymous, `apollo_artist_${suffix}`);
const fan = await signUp(anonymous, `apollo_fan_${suffix}`);
const artistApollo = apolloFor(artist.token);
const fanApollo = apolloFor(fan.token);

// Automatic persisted queries: the second client's first request is the hash alone, which the
// server already knows from the first client's.
const first = await artistApollo.client.query({ query: VIEWER });
assert.equal(first.data.viewer.handle, artist.handle);
const before = observed.requests.length;
const second = await fanApollo.client.query({ query: VIEWER });
assert.equal(second.data.viewer.handle, fan.handle);
const apqRequests = observed.requests.slice(before);
assert.equal(apqRequests.length, 1, "a known hash needs one request");
assert.ok(apqRequests[0].hashOnly, "the request carried only the hash");
observed.apq = { firstClientRequests: before, knownHashRequests: apqRequests.length };

// Subscriptions first (they start lazily, on the websocket), then the writes they report.
const notifications = nextResults(
  artistApollo.client.subscribe({ query: NOTIFICATIONS }),
  2,
  "the artist's follow and like notifications",
);
const feed = nextResults(
  fanApollo.client.subscribe({ query: HOME_FEED }),
  1,
  "the post on the fan's home feed",
);
await new Promise((resolve) => setTimeout(resolve, 500)); // both subscribed

const followed = await fanApollo.client.mutate({ mutation: FOLLOW, variables: { id: artist.id } });
assert.deepEqual(followed.data.follow.errors, []);

const image = new Blob([await readFile(imagePath)], { type: "image/jpeg" });
const artwork = await uploadArtwork(artistApollo.client, `Harbour ${suffix}`, image);
assert.equal(artwork.images.length, 1);
// The link first sends the hash alone (a PERSISTED_QUERY_NOT_FOUND answer), then the document.
const multipart = observed.requests.filter((r) => r.multipart);
assert.ok(multipart.every((r) => r.preflight === "true"));
const upload = multipart.at(-1);
assert.ok(upload && !upload.hashOnly && upload.status === 200, "the upload was multipart");

const posted = await artistApollo.client.mutate({
  mutation: CREATE_POST,
  variables: { input: { text: `New work ${suffix}`, artworkIds: [artwork.id] } },
});
assert.deepEqual(posted.data.createPost.errors, []);
const postId = posted.data.createPost.post.id;

const [event] = await feed;
assert.equal(event.homeFeed.kind, "ADDED");
assert.equal(event.homeFeed.post.id, postId);
assert.equal(event.homeFeed.post.author.handle, artist.handle);
const imageUrl = event.homeFeed.post.artworks[0].images[0].url;
const downloaded = await download(imageUrl);
assert.equal(downloaded.contentType, "image/jpeg");
assert.ok(downloaded.bytes > 1000);

const liked = await fanApollo.client.mutate({ mutation: LIKE, variables: { id: postId } });
assert.deepEqual(liked.data.likePost.errors, []);
const received = await notifications;
assert.deepEqual(
  received.map((n) => [n.notifications.kind, n.notifications.actor.handle]),
  [
    ["NEW_FOLLOWER", fan.handle],
    ["POST_LIKED", fan.handle],
  ],
);
assert.equal(received[1].notifications.post.id, postId);

// urql: a query over HTTP and the home feed over graphql-ws.
const urqlWs = wsClient(fan.token);
const urql = new UrqlClient({
  url: httpUrl,
  fetchOptions: { headers: { authorization: `Bearer ${fan.token}` } },
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query || "" };
        return { subscribe: (sink) => ({ unsubscribe: urqlWs.subscribe(input, sink) }) };
      },
    }),
  ],
});
const urqlViewer = await urql.query("query { viewer { handle } }", {}).toPromise();
assert.equal(urqlViewer.error, undefined);
assert.equal(urqlViewer.data.viewer.handle, fan.handle);
const urqlEvent = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("urql: no home feed event")), WITHIN_MS);
  const { unsubscribe } = urql
    .subscription("subscription { homeFeed { kind post { text } } }", {})
    .subscribe((result) => {
      clearTimeout(timer);
      unsubscribe();
      if (result.error) reject(result.error);
      else resolve(result.data);
    });
});
await new Promise((resolve) => setTimeout(resolve, 500));
const again = await artistApollo.client.mutate({
  mutation: CREATE_POST,
  variables: { input: { text: `Second ${suffix}` } },
});
assert.deepEqual(again.data.createPost.errors, []);
const urqlData = await urqlEvent;
assert.equal(urqlData.homeFeed.post.text, `Second ${suffix}`);

await Promise.all([artistApollo.ws.dispose(), fanApollo.ws.dispose(), urqlWs.dispose()]);
console.log(
  JSON.stringify({
    apq: observed.apq,
    upload: { multipart: upload.multipart, preflight: upload.preflight },
    feed: { kind: event.homeFeed.kind, image: downloaded },
    notifications: received.map((n) => n.notifications.kind),
    urql: { viewer: urqlViewer.data.viewer.handle, feed: urqlData.homeFeed.kind },
  }),
);
