// Starts Swagger UI on this server's schema. With a token on the server, asks for it
// once (kept in this tab's sessionStorage, the key the web view uses too) and sends it
// with every request, the schema's included. No other origin is ever contacted.
"use strict";
(function () {
  const KEY = "bv-token";
  const SCHEMA = "/openapi.json";

  function withToken(request) {
    const token = sessionStorage.getItem(KEY);
    if (token) request.headers.Authorization = "Bearer " + token;
    return request;
  }

  async function tokenAccepted() {
    const response = await fetch(SCHEMA, withToken({ headers: {} }));
    return response.status !== 401;
  }

  async function start() {
    for (let tries = 0; tries < 3 && !(await tokenAccepted()); tries++) {
      const typed = window.prompt(
        tries ? "That token was refused. API token:" : "This server needs its API token:"
      );
      if (!typed) break;
      sessionStorage.setItem(KEY, typed.trim());
    }
    window.SwaggerUIBundle({
      url: SCHEMA,
      dom_id: "#swagger-ui",
      requestInterceptor: withToken,
      validatorUrl: null, // the default sends the schema to an outside validator
      deepLinking: true,
    });
  }

  start();
})();
