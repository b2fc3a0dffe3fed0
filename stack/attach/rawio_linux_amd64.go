package attach

// sysSendmmsg is sendmmsg's system call number (the syscall package lists
// recvmmsg's but not sendmmsg's on amd64).
const sysSendmmsg = 307
