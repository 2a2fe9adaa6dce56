# The API processes of docker-compose.yml, round-robin, each only while its /readyz answers 200.
import directors;

probe ready {
    .url = "/readyz";
    .interval = 5s;
    .timeout = 2s;
    .window = 3;
    .threshold = 2;
}

backend app1 {
    .host = "app1";
    .port = "8000";
    .probe = ready;
}

backend app2 {
    .host = "app2";
    .port = "8000";
    .probe = ready;
}

sub vcl_init {
    new apps = directors.round_robin();
    apps.add_backend(app1);
    apps.add_backend(app2);
}

sub gesso_backend {
    set req.backend_hint = apps.backend();
}
