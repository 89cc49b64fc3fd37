/*
 * kvm-probe firmware: a 64 KiB -bios image for QEMU x86 that needs no real firmware.
 * Reset vector -> real mode: print "R" on COM1 -> protected mode: "P" -> long mode with
 * identity-mapped 2 MiB page: "L" -> a busy loop of 2^26 iterations (native: ~20 ms,
 * TCG: < 1 s, instruction-by-instruction emulation: far longer) -> "K\n" -> cli; hlt.
 * Loaded at 0xF0000 (isa-bios alias) and 0xFFFF0000; the code runs from 0xF0000.
 * Build: as --64 -o p.o kvm-probe.S && ld -Ttext=0 --oformat=binary -e 0 -o p.bin p.o
 * KvmProbe embeds the resulting bytes (the code at 0, the reset jump at 0xFFF0; the rest is zero);
 * KvmProbeFirmwareTest re-assembles this file and compares.
 */
        .set BASE, 0xF0000
        .set COM1, 0x3F8
        .text
        .code16
start16:
        cli
        movw $COM1, %dx
        movb $'R', %al
        outb %al, %dx
        xorw %ax, %ax
        movw %ax, %ds
        lgdtl %cs:gdtdesc
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x08, $(BASE + start32)

        .code32
start32:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw $COM1, %dx
        movb $'P', %al
        outb %al, %dx
        /* page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD) */
        movl $0x1000, %edi
        movl $(3 * 1024), %ecx
        xorl %eax, %eax
        rep stosl
        movl $0x2003, 0x1000
        movl $0x3003, 0x2000
        movl $0x00000083, 0x3000
        movl %cr4, %eax
        orl $0x20, %eax           /* PAE */
        movl %eax, %cr4
        movl $0x1000, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx    /* EFER */
        rdmsr
        orl $0x100, %eax          /* LME */
        wrmsr
        movl %cr0, %eax
        orl $0x80000000, %eax     /* PG */
        movl %eax, %cr0
        ljmpl $0x18, $(BASE + start64)

        .code64
start64:
        movw $COM1, %dx
        movb $'L', %al
        outb %al, %dx
        movq $(1 << 26), %rcx
1:      decq %rcx
        jnz 1b
        movb $'K', %al
        outb %al, %dx
        movb $'\n', %al
        outb %al, %dx
2:      cli
        hlt
        jmp 2b

        .balign 8
gdt:
        .quad 0
        .quad 0x00CF9A000000FFFF  /* 0x08: 32-bit code */
        .quad 0x00CF92000000FFFF  /* 0x10: data */
        .quad 0x00AF9A000000FFFF  /* 0x18: 64-bit code */
gdt_end:
gdtdesc:
        .word gdt_end - gdt - 1
        .long BASE + gdt

        .org 0xFFF0
reset:
        .code16
        ljmp $0xF000, $start16
        .org 0x10000
