#include <stdlib.h>
#include <string.h>
void* leaf(size_t n){ return malloc(n);} 
int main(){ void* keep[10]; for(int i=0;i<1000;i++){ void*p=leaf(32); free(p);} for(int i=0;i<10;i++) keep[i]=leaf(100); char*s=strdup("hello world"); (void)s; return 0;}
