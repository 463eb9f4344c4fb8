# Shared by t/egress*.bats: a test CA, an nginx HTTPS upstream and a
# bb-egress in front of it, all on loopback.

# Test CA and a server certificate for up.test and other.test.
egress_make_certs() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/tca.key" -out "$d/tca.pem" -subj /CN=bb-test-ca -days 2 \
		-addext basicConstraints=critical,CA:TRUE 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/srv.key" -out "$d/srv.csr" -subj /CN=up.test 2>/dev/null
	printf 'subjectAltName=DNS:up.test,DNS:other.test\n' >"$d/ext"
	openssl x509 -req -in "$d/srv.csr" -CA "$d/tca.pem" -CAkey "$d/tca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext" -out "$d/srv.pem" 2>/dev/null
}

# nginx on 127.0.0.1:$2 serving $1/www, echoing headers on /echo.
egress_start_nginx() {
	local d=$1 port=$2
	mkdir -p "$d/www/v1" "$d/www/up" "$d/tmp"
	echo "hello v1" >"$d/www/v1/hello"
	echo "admin page" >"$d/www/admin"
	cat >"$d/nginx.conf" <<NGX
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/nginx.err;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp;
	fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp;
	scgi_temp_path $d/tmp;
	keepalive_requests 100000;
	server {
		listen 127.0.0.1:$port ssl;
		server_name up.test other.test;
		ssl_certificate $d/srv.pem;
		ssl_certificate_key $d/srv.key;
		root $d/www;
		location /echo {
			default_type text/plain;
			return 200 "auth=[\$http_authorization] pauth=[\$http_proxy_authorization] host=[\$http_host] uri=[\$request_uri]\n";
		}
		location /up/ {
			client_max_body_size 0;
			dav_methods PUT;
		}
		location /v1/git/ {
			return 200 "git\n";
		}
	}
}
NGX
	nginx -c "$d/nginx.conf" -p "$d" &
	echo $! >"$d/nginx.ppid"
	wait_for "127.0.0.1:$port"
}
