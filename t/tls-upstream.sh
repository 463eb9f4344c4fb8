# A test CA, a server certificate it signs and an nginx HTTPS upstream
# with it: shared by the bats libraries (t/egress-lib.bash, t/up-lib.bash)
# and the benchmarks (t/bench/egress.sh), so POSIX sh, without bats.
# Source it: . "$BB_ROOT/t/tls-upstream.sh"

# tls_make_certs DIR NAME...: in DIR, a test CA (tca.pem, key tca.key)
# and the certificate it signs for every NAME (srv.pem, key srv.key; the
# first NAME is its CN).  ECDSA P-256, valid two days.
tls_make_certs() {
	tls_dir=$1
	shift
	tls_san=
	for tls_name in "$@"; do
		tls_san="$tls_san${tls_san:+,}DNS:$tls_name"
	done
	mkdir -p "$tls_dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$tls_dir/tca.key" -out "$tls_dir/tca.pem" -subj /CN=bb-test-ca -days 2 \
		-addext basicConstraints=critical,CA:TRUE 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$tls_dir/srv.key" -out "$tls_dir/srv.csr" -subj "/CN=$1" 2>/dev/null &&
		printf 'subjectAltName=%s\n' "$tls_san" >"$tls_dir/ext" &&
		openssl x509 -req -in "$tls_dir/srv.csr" -CA "$tls_dir/tca.pem" -CAkey "$tls_dir/tca.key" \
			-CAcreateserial -days 2 -extfile "$tls_dir/ext" -out "$tls_dir/srv.pem" 2>/dev/null
}

# tls_nginx_conf DIR <SERVER: DIR/nginx.conf for nginx as one process in
# the foreground (`nginx -c DIR/nginx.conf -p DIR`), keeping its files in
# DIR, with one HTTPS server on DIR/srv.pem whose other directives
# (listen, locations...) are read from stdin.
tls_nginx_conf() {
	mkdir -p "$1/tmp"
	{
		cat <<NGX
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx.err;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $1/tmp;
	proxy_temp_path $1/tmp;
	fastcgi_temp_path $1/tmp;
	uwsgi_temp_path $1/tmp;
	scgi_temp_path $1/tmp;
	keepalive_requests 1000000;
	server {
		ssl_certificate $1/srv.pem;
		ssl_certificate_key $1/srv.key;
NGX
		cat
		printf '\t}\n}\n'
	} >"$1/nginx.conf"
}
