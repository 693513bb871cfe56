"""Local fakes of provider HTTP APIs, for connection checks tested over real sockets."""
