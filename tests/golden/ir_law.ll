define double @"law"(double %".1", double %".2")
{
entry:
  %".4" = fcmp oge double %".1",              0x0
  %".5" = fcmp ole double %".1", 0x4008000000000000
  %".6" = and i1 %".4", %".5"
  %".7" = fcmp oge double %".2",              0x0
  %".8" = fcmp ole double %".2", 0x4008000000000000
  %".9" = and i1 %".7", %".8"
  %".10" = and i1 1, %".6"
  %".11" = and i1 %".10", %".9"
  br i1 %".11", label %"inside", label %"outside"
outside:
  ret double 0x7ff8000000000000
inside:
  %".14" = fmul double %".1", %".1"
  %".15" = fmul double 0x3fe0000000000000, %".14"
  %".16" = call double @"llvm.cos.f64"(double %".1")
  %".17" = fmul double 0xbff0000000000000, %".2"
  %".18" = call double @"llvm.exp.f64"(double %".17")
  %".19" = fmul double %".16", %".18"
  %".20" = fadd double %".15", %".19"
  ret double %".20"
}
