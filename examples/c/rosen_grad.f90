! rosen_grad: the gradient of the Rosenbrock function, compiled at run time
! from program text through adjit's C API, called from Fortran with
! bind(C) interfaces. Prints the gradient at x(j) = 0.5 + (j-1)/4, n = 4,
! one element per line.
!
! Build: gfortran rosen_grad.f90 -L../../target/debug -ladjit_capi \
!        -Wl,-rpath,../../target/debug -o rosen_grad
program rosen_grad
  use, intrinsic :: iso_c_binding
  implicit none

  integer(c_int), parameter :: ADJIT_OK = 0, ADJIT_GRAD = 1

  interface
    integer(c_int) function adjit_module_parse(text, out) bind(C, name="adjit_module_parse")
      import :: c_int, c_char, c_ptr
      character(kind=c_char), dimension(*), intent(in) :: text
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function adjit_derive(m, func, kind, wrt, out) bind(C, name="adjit_derive")
      import :: c_int, c_char, c_ptr
      type(c_ptr), value :: m, func
      integer(c_int), value :: kind
      character(kind=c_char), dimension(*), intent(in) :: wrt
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function adjit_compile(m, func, sizes, out) bind(C, name="adjit_compile")
      import :: c_int, c_char, c_ptr
      type(c_ptr), value :: m, func
      character(kind=c_char), dimension(*), intent(in) :: sizes
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function adjit_fn_call(f, inputs, outputs, workspace) bind(C, name="adjit_fn_call")
      import :: c_int, c_ptr
      type(c_ptr), value :: f
      type(c_ptr), dimension(*), intent(in) :: inputs, outputs
      type(c_ptr), value :: workspace
    end function
    subroutine adjit_fn_free(f) bind(C, name="adjit_fn_free")
      import :: c_ptr
      type(c_ptr), value :: f
    end subroutine
    subroutine adjit_module_free(m) bind(C, name="adjit_module_free")
      import :: c_ptr
      type(c_ptr), value :: m
    end subroutine
  end interface

  character(len=*), parameter :: nl = new_line('a')
  character(len=*), parameter :: rosen = &
    "func @rosen(%x: f64[n]) -> f64 {" // nl // &
    "  %x0: f64[n-1] = slice %x, [0:n-1]" // nl // &
    "  %x1: f64[n-1] = slice %x, [1:n]" // nl // &
    "  %sq: f64[n-1] = mul %x0, %x0" // nl // &
    "  %d: f64[n-1] = sub %x1, %sq" // nl // &
    "  %dd: f64[n-1] = mul %d, %d" // nl // &
    "  %c100: f64[n-1] = const 100.0" // nl // &
    "  %a: f64[n-1] = mul %c100, %dd" // nl // &
    "  %one: f64[n-1] = const 1.0" // nl // &
    "  %e: f64[n-1] = sub %one, %x0" // nl // &
    "  %ee: f64[n-1] = mul %e, %e" // nl // &
    "  %t: f64[n-1] = add %a, %ee" // nl // &
    "  %f: f64 = reduce_sum %t, axes=[0]" // nl // &
    "  return %f" // nl // "}" // nl

  real(c_double), target :: x(4), dx(4)
  type(c_ptr) :: m, g, f, ins(1), outs(1)
  integer :: j

  if (adjit_module_parse(rosen // c_null_char, m) /= ADJIT_OK) stop 1
  if (adjit_derive(m, c_null_ptr, ADJIT_GRAD, "x" // c_null_char, g) /= ADJIT_OK) stop 2
  if (adjit_compile(g, c_null_ptr, "n=4" // c_null_char, f) /= ADJIT_OK) stop 3
  do j = 1, 4
    x(j) = 0.5d0 + dble(j - 1) / 4d0
  end do
  ins(1) = c_loc(x)
  outs(1) = c_loc(dx)
  ! A null workspace: the call allocates one (simplest from Fortran).
  if (adjit_fn_call(f, ins, outs, c_null_ptr) /= ADJIT_OK) stop 4
  do j = 1, 4
    print '(ES26.17E3)', dx(j)
  end do
  call adjit_fn_free(f)
  call adjit_module_free(g)
  call adjit_module_free(m)
end program rosen_grad
