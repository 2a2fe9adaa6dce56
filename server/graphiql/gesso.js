// GraphiQL on the API's own endpoint: queries and mutations over HTTP, subscriptions over
// graphql-transport-ws. The Headers tab is sent with every HTTP request and, for a
// subscription, as the connection_init payload (so {"Authorization": "Bearer <token>"} signs
// both in).
(function () {
  "use strict";
  var endpoint = window.location.origin + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: endpoint.replace(/^http/, "ws"),
  });
  var defaultQuery = [
    "# Sign in, then put the token in the Headers tab below:",
    '#   {"Authorization": "Bearer <token>"}',
    "# It goes with every request and into a subscription's connection_init.",
    "#",
    '# mutation { logIn(input: {login: "ada_inks", password: "demo-password-1"}) { token } }',
    "",
    "query Me {",
    "  viewer { handle displayName }",
    "}",
    "",
  ].join("\n");
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: true,
    })
  );
})();
