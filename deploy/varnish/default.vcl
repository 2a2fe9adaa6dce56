vcl 4.1;

# The media cache: Varnish in front of the API processes for /media/ (see docs/operations.md).
#
# - Caches only answers to signed URLs (a "sig" in the query) and only 200, 206 and 304; a 403,
#   404 or 503 is never kept. A signed URL fixes what it serves (object, training policy) until it
#   expires, so an object lives exactly as long as its URL: the TTL is the origin's max-age, with
#   no grace (an expired URL must reach the origin and be refused).
# - Refuses known AI crawlers (ai_crawlers.vcl, made by `gesso varnish-vcl` from
#   server/ai_crawlers.txt) on reserved images before the cache lookup (the URL says t=r), and on
#   any answer that says "do not train" (X-Robots-Tag) when it is delivered.
# - Range requests (206) and conditional requests (304) are answered from the cached object.
# - PURGE with an "xkey" header (surrogate keys, space-separated) on the "purge" listener, from
#   the API processes, drops every object tagged with any of them (varnish-modules' xkey).
#
# backends.vcl names the API processes and defines gesso_backend; the tests use their own.

import xkey;

include "backends.vcl";
include "ai_crawlers.vcl";

acl purgers {
    "127.0.0.1";
    "::1";
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
}

sub vcl_recv {
    call gesso_backend;
    if (local.socket == "purge") {
        if (req.method != "PURGE" || client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey) {
            return (synth(400, "PURGE needs an xkey header"));
        }
        set req.http.X-Purged = xkey.purge(req.http.xkey);
        return (synth(200, "Purged"));
    }
    if (req.method == "PURGE") {
        return (synth(405, "Method Not Allowed"));
    }
    unset req.http.X-Gesso-AI-Crawler;
    if (req.url !~ "^/media/" || (req.method != "GET" && req.method != "HEAD")) {
        return (pass);
    }
    if (req.url !~ "[?&]sig=") {
        # unsigned: the origin refuses it, and that answer is not kept
        return (pass);
    }
    call gesso_ai_crawler;
    if (req.http.X-Gesso-AI-Crawler && req.url !~ "[?&]t=a(&|$)") {
        return (synth(403, "AI_CRAWLER"));
    }
    # What a signed URL serves is the same for everyone.
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_backend_response {
    if (bereq.url ~ "^/media/" && bereq.uncacheable == false) {
        if ((beresp.status != 200 && beresp.status != 206 && beresp.status != 304)
            || beresp.http.Cache-Control !~ "(^|[ ,])public([ ,]|$)") {
            set beresp.ttl = 0s;
            set beresp.uncacheable = true;
            return (deliver);
        }
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        return (deliver);
    }
}

sub vcl_deliver {
    if (req.http.X-Gesso-AI-Crawler && resp.http.X-Robots-Tag ~ "noai") {
        set req.http.X-Gesso-TDM-Policy = resp.http.tdm-policy;
        return (synth(403, "AI_CRAWLER"));
    }
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

sub vcl_synth {
    if (resp.reason == "AI_CRAWLER") {
        set resp.reason = "Forbidden";
        set resp.http.Content-Type = "application/json";
        set resp.http.Cache-Control = "no-store";
        set resp.http.X-Robots-Tag = "noai, noimageai";
        set resp.http.tdm-reservation = "1";
        if (req.http.X-Gesso-TDM-Policy) {
            set resp.http.tdm-policy = req.http.X-Gesso-TDM-Policy;
        }
        set resp.body = {"{"error": "known AI crawlers may not fetch this image", "code": "AI_CRAWLER" }"};
        return (deliver);
    }
    if (req.http.X-Purged) {
        set resp.http.X-Purged = req.http.X-Purged;
    }
}
